"""Scheduled snapshots: ``etcd-backup.timer`` starts ``etcd-backup.service`` on every member.

The service runs a script installed on the host (``etcd_cluster/backup/schedule.py`` says what
it contains): a snapshot of this member from its own endpoint with the
healthcheck-client certificate, verified, written atomically with mode 600 into
``etcd_backup_dir`` (mode 700), pruned by the retention tiers, and with
``etcd_backup_remote`` copied off-host with the operator's rclone configuration (uploaded
here, never shown).
etcdctl comes from Debian's etcd-client (tasks/packages.py). systemd reloads only when
a unit changed, so a converged member reports no changes.
"""

from pyinfra import host, state

from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine import converge
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)
    settings = plan.cluster.settings
    items = plan.items[host.name]

    converge.put(
        f"Snapshot directory {settings.backup_dir} (root only: snapshots hold every Secret), "
        f"the snapshot script, {backup.SERVICE} and {backup.TIMER} ({settings.backup_schedule}) "
        "enabled and active, no drop-in changing what they run",
        [
            items.backup_dir,
            *items.backup_remote_files,
            *items.backup_files,
            items.backup_overrides,
            items.backup_timer,
        ],
    )
