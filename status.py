"""How is the etcd cluster now? Read only, at any time (also while a deploy runs).

    pyinfra -y inventory.py status.py                                  # the status table
    pyinfra -y inventory.py status.py --data etcd_status_json=status.json   # and as JSON

Surveys each member in one remote command and prints one row per member: health,
leader or learner, version, DB size and how much of it holds data, alarms, earliest
certificate expiry, newest snapshot and its age, the last backup run. Exits non-zero
when a member is unhealthy or unreachable, there is no single leader, an alarm is
active, a certificate expires within etcd_renew_before_days, or a member's backups
are failing or too old; the JSON is written before that.
"""

from etcd_cluster import etcd_cluster_status

etcd_cluster_status()
