"""Step 2: one kubeadm config per host, kept at a persistent path.

InitConfiguration plus ClusterConfiguration as in the guide, for v1beta4 (extraArgs
as a name/value list) or v1beta3 (a map). Both runtimes write it: the static-pod
runtime feeds it to kubeadm, the systemd runtime derives the same etcd flags from
it, and later runs read its member list for the data-safety check. It pins
kubernetesVersion to the member's own kubeadm unless ``etcd_kubernetes_version`` is set.
When certificates are to be written too, it goes in their command
(``tasks/certificates.py``), and for a new cluster in the command that starts etcd: one
round trip fewer.
"""

from pyinfra import host, state

from etcd_cluster.engine import converge
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)
    config = [plan.items[host.name].kubeadm_config]

    if plan.one_upload(host.name):
        return  # a new cluster: written in the command that starts etcd (tasks/start_etcd.py)
    if plan.for_host(host).pending() and converge.carried(config, show=False) is not None:
        return  # written with the certificates, in their command
    converge.put("Write this member's kubeadm config", config)
