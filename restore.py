"""Restore the whole etcd cluster from one snapshot (a one-off; etcd's recovery guide).

    pyinfra inventory.py restore.py --data etcd_restore_snapshot=PATH \
        --data etcd_restore_confirm=yes [--dry]    # --dry: show the plan, change nothing

PATH is a snapshot on the FIRST member (the scheduled ones are in etcd_backup_dir), or an
rclone REMOTE:PATH (etcd_backup_rclone_config); a .tar.age archive is decrypted with
etcd_restore_age_identity. On new hosts (no member holds etcd data) the deploy's steps
set them up first.
Refused unless etcd_restore_confirm=yes: every write after the snapshot is lost. Also
the way back from a lost quorum: restore from the survivor's latest snapshot (copy it
to the first member first if the survivor is another one).
"""

from etcd_cluster import restore_etcd_cluster

restore_etcd_cluster()
