"""Scheduled snapshots: ``etcd-backup.timer`` starts ``etcd-backup.service`` on every member.

The service runs a script installed on the host (``etcd_cluster/backup.py`` says what
it contains): a snapshot of this member from its own endpoint with the
healthcheck-client certificate, verified, written atomically with mode 600 into
``etcd_backup_dir`` (mode 700), the oldest pruned down to ``etcd_backup_keep``.
etcdctl comes from Debian's etcd-client (tasks/packages.py). systemd reloads only when
a unit changed, so a converged member reports no changes.
"""

from pyinfra import host, state
from pyinfra.operations import files, systemd

from etcd_cluster import backup
from etcd_cluster.plan import get_plan

plan = get_plan(state)
cluster = plan.cluster
settings = cluster.settings
member = cluster.member(host.name)
files.directory(
    name=f"Snapshot directory {settings.backup_dir} (root only: snapshots hold every Secret)",
    path=settings.backup_dir,
    mode="700",
    user="root",
    group="root",
)
files.template(  # creates /usr/local/lib/etcd-deploy as needed
    name="etcd snapshot script",
    src=backup.SCRIPT_TEMPLATE,
    dest=backup.SCRIPT_PATH,
    mode="755",
    user="root",
    group="root",
    **backup.script_context(cluster, member),
)
units = [
    files.template(
        name=f"{name} unit",
        src=template,
        dest=dest,
        mode="644",
        user="root",
        group="root",
        **backup.unit_context(cluster, member),
    )
    for name, template, dest in (
        (backup.SERVICE, backup.SERVICE_TEMPLATE, backup.SERVICE_PATH),
        (backup.TIMER, backup.TIMER_TEMPLATE, backup.TIMER_PATH),
    )
]
systemd.daemon_reload(
    name="Reload systemd for the etcd-backup units",
    _if=lambda: any(unit.did_change() for unit in units),
)
systemd.service(
    name=f"{backup.TIMER} enabled and active ({settings.backup_schedule})",
    service=backup.TIMER,
    running=True,
    enabled=True,
)
