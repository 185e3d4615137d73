"""Scheduled snapshots: ``etcd-backup.timer`` starts ``etcd-backup.service`` on every member.

The service runs a script installed on the host (``etcd_cluster/backup.py`` says what
it contains): a snapshot of this member from its own endpoint with the
healthcheck-client certificate, verified, written atomically with mode 600 into
``etcd_backup_dir`` (mode 700), the oldest pruned down to ``etcd_backup_keep``.
etcdctl comes from Debian's etcd-client (tasks/packages.py). systemd reloads only when
a unit changed, so a converged member reports no changes.
"""

from pyinfra import host, state
from pyinfra.operations import systemd

from etcd_cluster import backup, converge
from etcd_cluster.plan import get_plan

plan = get_plan(state)
settings = plan.cluster.settings
items = plan.items[host.name]

converge.ensure(
    f"Snapshot directory {settings.backup_dir} (root only: snapshots hold every Secret)",
    items.backup_dir,
)
_, *units = [
    converge.ensure(name, item)  # the script's directory is made as needed
    for name, item in zip(
        ("etcd snapshot script", f"{backup.SERVICE} unit", f"{backup.TIMER} unit"),
        items.backup_files,
        strict=True,
    )
]
if converge.called(*units):
    systemd.daemon_reload(
        name="Reload systemd for the etcd-backup units",
        _if=lambda: any(unit.did_change() for unit in units),
    )
converge.ensure(
    f"{backup.TIMER} enabled and active ({settings.backup_schedule})", items.backup_timer
)
