"""Step 7: start etcd, and restart members whose etcd does not run what it should.

static-pod: ``kubeadm init phase etcd local --config=...`` when the manifest is
missing (all members at once, so the new cluster reaches quorum).
systemd: a unit whose flags are exactly kubeadm's for the same config and etcd
version, reloaded when it changed or systemd still holds an older copy.
Restarts are decided at execution from what each member's etcd runs then (flags,
binary, a CA file newer than the process, a stale served certificate), so a change an
interrupted run left pending is completed by the next one. They go through
``rolling_restart``: serial, failing members first, the leader last, each gated on
the live member list keeping quorum and followed by a wait for cluster health.
"""

from pyinfra import host, state
from pyinfra.operations import files, server, systemd

from etcd_cluster import kubeadm_config as kc
from etcd_cluster.membership_ops import join_members
from etcd_cluster.operations import rolling_restart
from etcd_cluster.plan import get_plan
from etcd_cluster.restarts import PASSES
from etcd_cluster.runtime import SYSTEMD_UNIT, kubeadm_etcd_local, runtime_commands

plan = get_plan(state)
cluster = plan.cluster
settings = cluster.settings
member = cluster.member(host.name)
survey = plan.surveys[host.name]  # read before this run changed anything
observation = plan.observations[host.name]
joining = host.name in plan.membership.joining  # started by join_members

# kubeadm's modes: the data dir and the static pod dir are root-only.
private_dirs = [settings.data_dir]
if settings.runtime == "static-pod":
    private_dirs.append(settings.manifests_dir)
for directory in host.loop(private_dirs):
    files.directory(
        name=f"Directory {directory}", path=directory, mode="700", user="root", group="root"
    )

if settings.runtime == "systemd":
    binary, version = plan.etcd_release(host)
    unit = files.template(
        name=f"etcd unit with kubeadm's flags for etcd {version or '(unknown version)'}",
        src=kc.ETCD_UNIT_TEMPLATE,
        dest=kc.ETCD_UNIT_PATH,
        mode="644",
        user="root",
        group="root",
        **kc.etcd_unit_context(cluster, member, version, binary),
    )
    systemd.daemon_reload(
        name="Reload systemd for the etcd unit",
        _if=lambda: unit.did_change() or observation.needs_daemon_reload,
    )
    systemd.service(
        name="etcd is running and enabled",
        service=SYSTEMD_UNIT,
        running=True,
        enabled=True,
        _if=lambda: not joining,
    )
else:
    server.shell(
        name="kubeadm init phase etcd local (first start)",
        commands=[kubeadm_etcd_local(cluster)],
        _if=lambda: not survey.manifest and not joining,
    )

join_members(name="New members join as learners and are promoted, one at a time")

for pass_name in host.loop(PASSES):
    rolling_restart(
        name=f"Restart etcd if it does not run what it should ({pass_name} pass)",
        pass_name=pass_name,
        logs_command=runtime_commands(cluster).logs,
        _serial=True,
    )
