"""Step 1: kubelet as etcd's service manager (static-pod runtime only).

The guide's KubeletConfiguration and the ``20-etcd-service-manager.conf`` drop-in
(running the kubelet the survey found on PATH);
daemon-reload and a kubelet restart only when either file changed; kubelet must end
up active.
"""

from pyinfra import host, state
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from etcd_cluster import kubeadm_config as kc
from etcd_cluster.plan import get_plan

plan = get_plan(state)
cluster = plan.cluster

if cluster.settings.runtime == "static-pod":
    context = kc.kubelet_contexts(cluster, plan.surveys[host.name].kubelet_path)
    written = [
        files.template(
            name=f"Write {dest}",
            src=src,
            dest=dest,
            mode="644",
            user="root",
            group="root",
            **context,
        )
        for src, dest in host.loop(
            [
                (kc.KUBELET_CONFIG_TEMPLATE, kc.KUBELET_CONFIG_PATH),
                (kc.KUBELET_DROPIN_TEMPLATE, kc.KUBELET_DROPIN_PATH),
            ]
        )
    ]
    changed = any_changed(*written)
    systemd.daemon_reload(name="Reload systemd for the kubelet drop-in", _if=changed)
    systemd.service(
        name="Restart kubelet with the new config",
        service="kubelet",
        restarted=True,
        _if=changed,
    )
    systemd.service(
        name="kubelet is active and enabled", service="kubelet", running=True, enabled=True
    )
