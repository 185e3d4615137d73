"""Step 1: kubelet as etcd's service manager (static-pod runtime only).

The guide's KubeletConfiguration and the ``20-etcd-service-manager.conf`` drop-in
(running the kubelet the survey found on PATH);
daemon-reload and a kubelet restart only when either file changed; kubelet must end
up active.
"""

from pyinfra import host, state

from etcd_cluster.engine import converge
from etcd_cluster.engine.managed import KUBELET_SERVICE
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)
    items = plan.items[host.name]

    if plan.cluster.settings.runtime == "static-pod":
        converge.put(
            "kubelet's config and drop-in; kubelet active and enabled, restarted when they change",
            [*items.kubelet_files, items.kubelet_service],
            restart_when_written=[KUBELET_SERVICE],
        )
