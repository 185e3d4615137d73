"""HA guide, "Copy the certificate files from the first control plane node to the rest".

Instead of scp from the first host: the shared CAs (``ca``, ``front-proxy-ca``, the
service-account key pair ``sa.key``/``sa.pub``, and with stacked etcd the etcd CA)
are made in memory with kubeadm's profiles, or read from the host that already
holds them, and written to every control-plane host that lacks them through the
quiet channel. kubeadm issues each host's leaf certificates from them.
"""

from pyinfra import host, state

from etcd_cluster.controlplane.ops import shared_ca_files
from etcd_cluster.controlplane.plan import get_control_plane_plan


def run() -> None:
    plan = get_control_plane_plan(state)

    if host.name in plan.hosts:
        shared_ca_files(
            name="Shared Kubernetes CAs (ca, sa, front-proxy-ca, stacked: etcd/ca) in place",
        )
