"""Step 1: kubelet as etcd's service manager (static-pod runtime only).

The guide's KubeletConfiguration and the ``20-etcd-service-manager.conf`` drop-in;
daemon-reload and a kubelet restart only when either file changed; kubelet must end
up active.
"""

from pyinfra import state
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from etcd_cluster import kubeadm_config as kc
from etcd_cluster.plan import get_plan

cluster = get_plan(state).cluster

if cluster.settings.runtime == "static-pod":
    context = kc.kubelet_contexts(cluster)
    kubelet_config = files.template(
        name="Write the kubelet config for etcd",
        src=kc.KUBELET_CONFIG_TEMPLATE,
        dest=kc.KUBELET_CONFIG_PATH,
        mode="644",
        user="root",
        group="root",
        **context,
    )
    dropin = files.template(
        name="Write the kubelet drop-in 20-etcd-service-manager.conf",
        src=kc.KUBELET_DROPIN_TEMPLATE,
        dest=kc.KUBELET_DROPIN_PATH,
        mode="644",
        user="root",
        group="root",
        **context,
    )
    changed = any_changed(kubelet_config, dropin)
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
