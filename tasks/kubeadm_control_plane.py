"""HA guide: ``kubeadm init`` on the first control-plane host, the CNI, then ``kubeadm join``.

Runs with ``k8s_run_kubeadm`` (the default) once the preflight found kubeadm, kubelet
and a container runtime of ``k8s_version`` on every control-plane and worker host.
Every operation is called on every one of those hosts (and does something only where
it applies) so pyinfra orders them init -> CNI -> joins; joins go one host at a time.
Hosts that already joined and are registered are left alone.
"""

from pyinfra import host, state
from pyinfra.operations import files

from etcd_cluster.controlplane.kubeadm import CNI_MANIFEST_PATH, is_url
from etcd_cluster.controlplane.kubeadm_ops import cni_applied, kubeadm_init, kubeadm_join
from etcd_cluster.controlplane.plan import get_control_plane_plan


def run() -> None:
    plan = get_control_plane_plan(state)
    manifest = plan.settings.cni_manifest

    if plan.settings.run_kubeadm and host.name in plan.addresses:
        if manifest and not is_url(manifest):
            files.put(
                name=f"CNI manifest {manifest} on the first control-plane host",
                src=manifest,
                dest=CNI_MANIFEST_PATH,
                mode="644",
                user="root",
                group="root",
                _if=lambda: host.name == plan.first,
            )
        kubeadm_init(name="kubeadm init on the first control-plane host")
        cni_applied(
            name="Apply the CNI manifest (kubectl apply) once the first control plane answers",
            manifest=manifest if is_url(manifest) or not manifest else CNI_MANIFEST_PATH,
        )
        kubeadm_join(
            name="kubeadm join (control plane, then workers), one host at a time", _serial=True
        )
