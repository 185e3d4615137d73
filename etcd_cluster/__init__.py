"""An external, highly available etcd cluster for Kubernetes, as pyinfra deploys.

    from etcd_cluster import deploy_etcd_cluster, deploy_ha_control_plane

Modules without pyinfra operations (``certlist``, ``pki``, ``settings``, ``cluster``,
``flags``, ``kubeadm_config``, ``status``, ``scripts``) are unit-tested without hosts.
``remote``, ``facts``, ``operations`` and ``plan`` talk to hosts through pyinfra;
``deploys`` holds the ``@deploy`` functions, one call per guide step (``tasks/``).
"""

from etcd_cluster.deploys import (
    deploy_etcd_cluster,
    deploy_ha_control_plane,
    etcd_cluster_status,
    restore_etcd_cluster,
)

__all__ = [
    "deploy_etcd_cluster",
    "deploy_ha_control_plane",
    "etcd_cluster_status",
    "restore_etcd_cluster",
]
