"""What kubeadm init and join are told on the HA guide's hosts, as template contexts.

The first control-plane host runs ``kubeadm init`` with an InitConfiguration (a
bootstrap token made by the deploy) and a ClusterConfiguration (version, the load
balancer as controlPlaneEndpoint and in the apiserver's SANs, the pod network, and
``etcd.external`` from this project's cluster or ``etcd.local`` when stacked). The
others run ``kubeadm join`` with a JoinConfiguration: discovery by that token and the
hash of the CA the deploy made, ``controlPlane`` for control-plane hosts only.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from etcd_cluster.engine.templates import render
from etcd_cluster.settings import ControlPlaneSettings, split_host_port

INIT_TEMPLATE = "templates/etc/kubernetes/kubeadm-init.yaml.j2"
JOIN_TEMPLATE = "templates/etc/kubernetes/kubeadm-join.yaml.j2"
INIT_CONFIG_PATH = "/etc/kubernetes/kubeadm-init.yaml"
JOIN_CONFIG_PATH = "/etc/kubernetes/kubeadm-join.yaml"
KUBEADM_PKI_DIR = "/etc/kubernetes/pki"  # kubeadm's certificatesDir: left out when it is
TOKEN_TTL = "24h0m0s"  # kubeadm's default
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


def new_bootstrap_token() -> str:
    """``[a-z0-9]{6}.[a-z0-9]{16}``, as ``kubeadm token generate``."""

    def part(length: int) -> str:
        return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))

    return f"{part(6)}.{part(16)}"


def cert_sans(s: ControlPlaneSettings, vip: str | None) -> list[str]:
    """The load balancer's address(es) for the apiserver certificate."""
    host, _ = split_host_port("k8s_control_plane_endpoint", s.control_plane_endpoint)
    return list(dict.fromkeys([host, *([vip] if vip else [])]))


def init_context(
    s: ControlPlaneSettings,
    *,
    token: str,
    advertise_address: str,
    apiserver_port: int,
    vip: str | None,
    external_etcd: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "api_version": s.kubeadm_api_version,
        "token": token,
        "token_ttl": TOKEN_TTL,
        "advertise_address": advertise_address,
        "apiserver_port": apiserver_port,
        "kubernetes_version": f"v{s.version}",
        "control_plane_endpoint": s.control_plane_endpoint,
        "certificates_dir": s.pki_dir if s.pki_dir != KUBEADM_PKI_DIR else "",
        "cert_sans": cert_sans(s, vip),
        "pod_subnet": s.pod_subnet,
        "service_subnet": s.service_subnet,
        "external_etcd": external_etcd["etcd"]["external"] if external_etcd else None,
    }


def join_context(
    s: ControlPlaneSettings,
    *,
    token: str,
    ca_cert_hash: str,
    control_plane: bool,
    advertise_address: str,
    apiserver_port: int,
) -> dict[str, Any]:
    return {
        "api_version": s.kubeadm_api_version,
        "control_plane_endpoint": s.control_plane_endpoint,
        "token": token,
        "ca_cert_hash": ca_cert_hash,
        "control_plane": control_plane,
        "advertise_address": advertise_address,
        "apiserver_port": apiserver_port,
    }


def render_init(**context: Any) -> str:
    return render(INIT_TEMPLATE, **context)


def render_join(**context: Any) -> str:
    return render(JOIN_TEMPLATE, **context)


CNI_MANIFEST_PATH = "/etc/kubernetes/cni.yaml"
_CIDR = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}\b")


def is_url(reference: str) -> bool:
    return reference.startswith(("https://", "http://"))


def cni_subnet_warning(manifest_text: str, pod_subnet: str) -> str:
    """A warning when the manifest names networks and none of them is ``k8s_pod_subnet``."""
    found = list(dict.fromkeys(_CIDR.findall(manifest_text)))
    if not found or pod_subnet in found:
        return ""
    return (
        f"k8s_pod_subnet={pod_subnet} does not appear in the CNI manifest, which names "
        f"{', '.join(found)}: they must match"
    )
