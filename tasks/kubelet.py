"""Step 1: kubelet as etcd's service manager (static-pod runtime only).

The guide's KubeletConfiguration and the ``20-etcd-service-manager.conf`` drop-in
(running the kubelet the survey found on PATH);
daemon-reload and a kubelet restart only when either file changed; kubelet must end
up active.
"""

from pyinfra import host, state
from pyinfra.operations import systemd

from etcd_cluster import converge
from etcd_cluster.plan import get_plan

plan = get_plan(state)
items = plan.items[host.name]

if plan.cluster.settings.runtime == "static-pod":
    written = [converge.ensure(f"Write {f.dest}", f) for f in host.loop(items.kubelet_files)]

    def changed() -> bool:
        return any(result.did_change() for result in written)

    if converge.called(*written):
        systemd.daemon_reload(name="Reload systemd for the kubelet drop-in", _if=changed)
        systemd.service(
            name="Restart kubelet with the new config",
            service="kubelet",
            restarted=True,
            _if=changed,
        )
    converge.ensure("kubelet is active and enabled", items.kubelet_service)
