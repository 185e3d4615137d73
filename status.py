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

from pyinfra import host, state

from etcd_cluster.plan import is_member
from etcd_cluster.status_run import cluster_status, get_status

if is_member(host):
    get_status(state)  # survey, print and write while pyinfra prepares
    cluster_status(name="etcd cluster status (fails when something needs attention)")
