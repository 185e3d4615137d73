"""Hand-off to the control plane ("Creating Highly Available Clusters with kubeadm").

Once the cluster is healthy: the ``etcd.external`` block for the control plane's
kubeadm ClusterConfiguration is written on the machine running pyinfra, and hosts
of an inventory group ``control_plane`` receive etcd's ``ca.crt`` and the
``apiserver-etcd-client`` pair at the paths that block names. The copy is called on
every host, when there is a control plane, so that it runs after the members' steps.
"""

from pyinfra import host, state

from etcd_cluster.engine.operations import CONTROL_PLANE_ROLE, controller_file, pki_files
from etcd_cluster.engine.plan import get_plan, is_control_plane
from etcd_cluster.engine.templates import render
from etcd_cluster.etcd import kubeadm_config as kc


def run() -> None:
    plan = get_plan(state)
    cluster = plan.cluster

    if host.name == cluster.first.host:  # after step 8 there, as the file is written once
        controller_file(
            name=f"Write {cluster.settings.external_config_path} (etcd.external for kubeadm)",
            path=cluster.settings.external_config_path,
            content=render(kc.EXTERNAL_ETCD_TEMPLATE, **kc.external_etcd_context(cluster)),
            _if=lambda: plan.cluster_healthy,
        )

    if any(is_control_plane(h) for h in state.inventory):
        pki_files(
            name="Copy etcd's ca.crt and the apiserver-etcd-client pair to the control plane",
            role=CONTROL_PLANE_ROLE,
            _if=[lambda: is_control_plane(host), lambda: plan.cluster_healthy],
        )
