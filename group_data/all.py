"""Your own settings for every host, as in any pyinfra project (empty: the defaults).

Every setting, its default, scope and meaning: docs/settings.md (generated from
``etcd_cluster/defaults.py``, the only place defaults live). Set values here, in
``group_data/etcd.py``, in the inventory (per host) or with ``--data key=value``.
Cluster-wide settings are read from the first host of their group; one set differently
on another host alone, or a misspelt ``etcd_*``/``k8s_*`` key, is refused. For example:

    etcd_runtime = "systemd"
    etcd_version = "3.6.14"  # a shipped release: its published sha256 comes with the deploy
    etcd_backup_remote = "s3:my-bucket/etcd"  # off-host copies of the scheduled snapshots
    etcd_backup_rclone_config = "/home/me/.config/rclone/rclone.conf"
"""
