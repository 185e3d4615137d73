"""Step 7: start etcd, and restart changed members one at a time.

static-pod: ``kubeadm init phase etcd local --config=...`` when the manifest is
missing (all members at once, so the new cluster reaches quorum); a member whose
config or certificates changed later gets the manifest rewritten (or bounced).
systemd: a unit whose flags are exactly kubeadm's for the same config and etcd
version. Restarts of running members go through ``rolling_restart``: serial, each
gated on the others keeping quorum and followed by a wait for cluster health.
"""

from pyinfra import host, state
from pyinfra.operations import files, server, systemd

from etcd_cluster import kubeadm_config as kc
from etcd_cluster.certlist import files_read_by_etcd
from etcd_cluster.operations import rolling_restart
from etcd_cluster.plan import get_plan, recall
from etcd_cluster.runtime import SYSTEMD_UNIT, kubeadm_etcd_local, runtime_commands

plan = get_plan(state)
cluster = plan.cluster
settings = cluster.settings
member = cluster.member(host.name)
# As read before this run: only etcd's own CA, server and peer files need a restart.
certificates_changed = plan.for_host(host).content_changed(files_read_by_etcd(settings.pki_dir))
commands = runtime_commands(cluster)
survey = plan.surveys[host.name]  # read before this run changed anything

# kubeadm's modes: the data dir and the static pod dir are root-only.
private_dirs = [settings.data_dir]
if settings.runtime == "static-pod":
    private_dirs.append(settings.manifests_dir)
for directory in host.loop(private_dirs):
    files.directory(
        name=f"Directory {directory}", path=directory, mode="700", user="root", group="root"
    )

if settings.runtime == "systemd":
    version = survey.etcd_version
    was_running = survey.etcd_active
    unit = files.template(
        name=f"etcd unit with kubeadm's flags for etcd {version or '(unknown version)'}",
        src=kc.ETCD_UNIT_TEMPLATE,
        dest=kc.ETCD_UNIT_PATH,
        mode="644",
        user="root",
        group="root",
        **kc.etcd_unit_context(cluster, member, version),
    )
    systemd.daemon_reload(name="Reload systemd for the etcd unit", _if=unit.did_change)
    systemd.service(
        name="etcd is running and enabled", service=SYSTEMD_UNIT, running=True, enabled=True
    )
    inputs_changed = unit.did_change
else:
    was_running = survey.manifest
    server.shell(
        name="kubeadm init phase etcd local (first start)",
        commands=[kubeadm_etcd_local(cluster)],
        _if=lambda: not was_running,
    )
    inputs_changed = recall(host, "kubeadm_config").did_change

for unhealthy_first in host.loop([True, False]):
    rolling_restart(
        name="Restart members whose endpoint fails"
        if unhealthy_first
        else "Rolling restart of changed members",
        restart_command=commands.restart,
        logs_command=commands.logs,
        unhealthy_first=unhealthy_first,
        _serial=True,
        _if=lambda: was_running and (certificates_changed or inputs_changed()),
    )
