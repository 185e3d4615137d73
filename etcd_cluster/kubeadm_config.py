"""What the per-host files say: template contexts for kubeadm, kubelet and etcd files.

Each function returns the context of one template under ``templates/``; the
template path mirrors where the file lands on the host.
"""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

from etcd_cluster import settings as defaults
from etcd_cluster.certlist import APISERVER_ETCD_CLIENT, ETCD_CA
from etcd_cluster.cluster import Cluster, Member
from etcd_cluster.flags import etcd_command, guide_extra_args

KUBEADM_CONFIG_TEMPLATE = "templates/etc/kubernetes/kubeadmcfg.yaml.j2"
KUBELET_CONFIG_TEMPLATE = "templates/etc/systemd/system/kubelet.service.d/kubelet.conf.j2"
KUBELET_DROPIN_TEMPLATE = (
    "templates/etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf.j2"
)
ETCD_UNIT_TEMPLATE = "templates/etc/systemd/system/etcd.service.j2"
EXTERNAL_ETCD_TEMPLATE = "templates/controller/etcd-external.yaml.j2"

KUBELET_DROPIN_DIR = "/etc/systemd/system/kubelet.service.d"
KUBELET_CONFIG_PATH = f"{KUBELET_DROPIN_DIR}/kubelet.conf"
KUBELET_DROPIN_PATH = f"{KUBELET_DROPIN_DIR}/20-etcd-service-manager.conf"
ETCD_UNIT_PATH = "/etc/systemd/system/etcd.service"
DEFAULT_PKI_DIR = "/etc/kubernetes/pki"


def kubeadm_config_context(cluster: Cluster, member: Member) -> dict[str, Any]:
    """The guide's kubeadmcfg.yaml for ``member``; non-default settings add their fields."""
    s = cluster.settings
    v1beta4 = s.kubeadm_api_version == "v1beta4"
    return {
        "api_version": s.kubeadm_api_version,
        "member_name": member.name,
        "advertise_address": member.address,
        "certificates_dir": s.pki_dir if s.pki_dir != DEFAULT_PKI_DIR else "",
        "encryption_algorithm": (
            s.key_algorithm if v1beta4 and s.key_algorithm != defaults.DEFAULT_KEY_ALGORITHM else ""
        ),
        "certificate_validity_period": (
            f"{s.cert_validity_hours}h0m0s"
            if v1beta4 and s.cert_validity_hours != defaults.DEFAULT_CERT_VALIDITY_HOURS
            else ""
        ),
        "ca_certificate_validity_period": (
            f"{s.ca_validity_hours}h0m0s"
            if v1beta4 and s.ca_validity_hours != defaults.DEFAULT_CA_VALIDITY_HOURS
            else ""
        ),
        "data_dir": s.data_dir if s.data_dir != defaults.DEFAULT_DATA_DIR else "",
        "image_repository": s.image_repository,
        "image_tag": s.image_tag,
        "server_cert_sans": _unique([member.address, *member.server_sans]),
        "peer_cert_sans": _unique([member.address, *member.peer_sans]),
        "extra_args": guide_extra_args(cluster, member),
        "extra_args_as_map": not v1beta4,
    }


def kubelet_contexts(cluster: Cluster, kubelet_binary: str = "/usr/bin/kubelet") -> dict[str, Any]:
    """Both kubelet files of step 1 share one context."""
    s = cluster.settings
    return {
        "cgroup_driver": s.kubelet_cgroup_driver,
        "container_runtime_endpoint": s.kubelet_container_runtime_endpoint,
        "manifests_dir": s.manifests_dir,
        "kubelet_binary": kubelet_binary,
        "kubelet_config_path": KUBELET_CONFIG_PATH,
    }


def etcd_unit_context(
    cluster: Cluster, member: Member, etcd_version: str, binary: str | None = None
) -> dict[str, Any]:
    """The systemd runtime's unit: kubeadm's flags for this member and etcd version."""
    s = cluster.settings
    return {
        "member_name": member.name,
        "kubeadm_config_path": s.kubeadm_config_path,
        "etcd_version": etcd_version,
        "command": etcd_command(cluster, member, etcd_version, binary=binary or s.etcd_binary),
    }


def external_etcd(cluster: Cluster) -> dict[str, Any]:
    """The ``etcd.external`` block of a control plane's ClusterConfiguration (HA guide)."""
    pki = cluster.settings.pki_dir
    return {
        "etcd": {
            "external": {
                "endpoints": cluster.client_endpoints,
                "caFile": ETCD_CA.cert_path(pki),
                "certFile": APISERVER_ETCD_CLIENT.cert_path(pki),
                "keyFile": APISERVER_ETCD_CLIENT.key_path(pki),
            }
        }
    }


def external_etcd_context(cluster: Cluster) -> dict[str, Any]:
    return {"document": yaml.safe_dump(external_etcd(cluster), sort_keys=False).rstrip()}


def wanted_image(cluster: Cluster) -> str:
    """The etcd image the static pod must run when the operator pins one ("" kubeadm's choice)."""
    s = cluster.settings
    if not s.image_tag:
        return ""
    return f"{s.image_repository or 'registry.k8s.io'}/etcd:{s.image_tag}"


def manifest_path(cluster: Cluster) -> str:
    return posixpath.join(cluster.settings.manifests_dir, "etcd.yaml")


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
