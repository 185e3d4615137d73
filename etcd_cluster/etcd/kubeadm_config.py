"""What the per-host files say: template contexts for kubeadm, kubelet and etcd files.

Each function returns the context of one template under ``templates/``; the
template path mirrors where the file lands on the host.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import Any

import yaml

from etcd_cluster import settings as defaults
from etcd_cluster.certs.certlist import APISERVER_ETCD_CLIENT, ETCD_CA
from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.flags import etcd_command, guide_extra_args

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
KUBEADM_PKI_DIR = "/etc/kubernetes/pki"
KUBEADM_KUBELET_BINARY = "/usr/bin/kubelet"  # the guide's, when the survey found none
_SYSTEMD_PLAIN_WORD = re.compile(r"^[A-Za-z0-9/_.:=,+@-]+$")


def kubeadm_config_context(
    cluster: Cluster, member: Member, kubeadm_version: str = ""
) -> dict[str, Any]:
    """The guide's kubeadmcfg.yaml for ``member``; non-default settings add their fields.

    Unlike the guide it pins ``kubernetesVersion`` (the ``etcd_kubernetes_version`` setting,
    else ``kubeadm_version``, the member's own kubeadm), so kubeadm never looks up
    ``stable-1`` over the internet and always picks the same etcd image; and, for the
    static-pod runtime, the CRI socket, so kubeadm does not guess between runtimes.
    """
    s = cluster.settings
    v1beta4 = s.kubeadm_api_version == "v1beta4"
    return {
        "api_version": s.kubeadm_api_version,
        "kubernetes_version": s.kubernetes_version or kubeadm_version,
        "cri_socket": (s.kubelet_container_runtime_endpoint if s.runtime == "static-pod" else ""),
        "member_name": member.name,
        "advertise_address": member.address,
        "certificates_dir": s.pki_dir if s.pki_dir != KUBEADM_PKI_DIR else "",
        "encryption_algorithm": (
            s.key_algorithm if v1beta4 and s.key_algorithm != defaults.KUBEADM_KEY_ALGORITHM else ""
        ),
        "certificate_validity_period": (
            f"{s.cert_validity_hours}h0m0s"
            if v1beta4 and s.cert_validity_hours != defaults.KUBEADM_CERT_VALIDITY_HOURS
            else ""
        ),
        "ca_certificate_validity_period": (
            f"{s.ca_validity_hours}h0m0s"
            if v1beta4 and s.ca_validity_hours != defaults.KUBEADM_CA_VALIDITY_HOURS
            else ""
        ),
        "data_dir": s.data_dir if s.data_dir != defaults.KUBEADM_DATA_DIR else "",
        "image_repository": s.image_repository,
        "image_tag": s.image_tag,
        "server_cert_sans": _unique([member.address, *member.server_sans]),
        "peer_cert_sans": _unique([member.address, *member.peer_sans]),
        "extra_args": guide_extra_args(cluster, member),
        "extra_args_as_map": not v1beta4,
    }


def kubelet_contexts(cluster: Cluster, kubelet_binary: str = "") -> dict[str, Any]:
    """Both kubelet files of step 1 share one context; ``kubelet_binary`` is the path the
    survey found on PATH (the guide's /usr/bin/kubelet when empty)."""
    s = cluster.settings
    binary = kubelet_binary or KUBEADM_KUBELET_BINARY
    return {
        "cgroup_driver": s.kubelet_cgroup_driver,
        "container_runtime_endpoint": s.kubelet_container_runtime_endpoint,
        "manifests_dir": s.manifests_dir,
        "exec_start": systemd_command([binary, f"--config={KUBELET_CONFIG_PATH}"]),
    }


def systemd_command(argv: Sequence[str]) -> str:
    """A command line for ``ExecStart=``: each word quoted as systemd parses it.

    systemd expands ``%`` specifiers and ``$`` variables even inside quotes, so those
    are doubled; a word with anything but plain path characters goes in double quotes
    with ``\\`` and ``"`` escaped (systemd.service, "Command lines").
    """
    words = []
    for arg in argv:
        if "\n" in arg or "\r" in arg:
            raise ValueError(f"a systemd command word cannot span lines: {arg!r}")
        word = arg.replace("%", "%%").replace("$", "$$")
        if not _SYSTEMD_PLAIN_WORD.match(arg):
            word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(word)
    return " ".join(words)


def etcd_unit_context(
    cluster: Cluster, member: Member, etcd_version: str, binary: str | None = None
) -> dict[str, Any]:
    """The systemd runtime's unit: kubeadm's flags for this member and etcd version."""
    s = cluster.settings
    return {
        "member_name": member.name,
        "kubeadm_config_path": s.kubeadm_config_path,
        "etcd_version": etcd_version,
        "start_timeout": s.start_timeout,
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
