"""etcd's command line exactly as ``kubeadm init phase etcd local`` would write it.

kubeadm (``phases/etcd/local.go`` getEtcdCommand, v1.34+) starts from its base
flags, drops every base flag named in ``etcd.local.extraArgs``, appends all extra
args, sorts by name then value and renders ``--name=value``. The experimental flag
names apply to etcd before 3.6 (reference section 3.2). The extra args are the
guide's seven plus the operator's ``etcd_extra_args``.
"""

from __future__ import annotations

import re

from etcd_cluster.certs.certlist import ETCD_CA, ETCD_PEER, ETCD_SERVER
from etcd_cluster.etcd.cluster import Cluster, Member, join_host_port

METRICS_PORT = 2381  # kubeadm's EtcdMetricsPort
KUBEADM_CLIENT_PORT = 2379  # kubeadm's base flags use the fixed ports
KUBEADM_PEER_PORT = 2380

Arg = tuple[str, str]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """'3.6.9-0', 'v3.5.21', 'etcd Version: 3.4.23' -> (3, 6, 9); None when unparsable."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text or "")
    if not match:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def version_text(text: str) -> str:
    """``parse_version`` as "X.Y.Z" ("" when unparsable): 'etcd Version: 3.4.23' -> '3.4.23'."""
    version = parse_version(text)
    return ".".join(str(part) for part in version) if version else ""


def uses_etcd36_flags(etcd_version: str) -> bool:
    """kubeadm v1.34/1.35: new flag names only when the tag parses and is >= 3.6.0."""
    version = parse_version(etcd_version)
    return version is not None and version >= (3, 6, 0)


def guide_extra_args(cluster: Cluster, member: Member) -> list[Arg]:
    """The guide's ``etcd.local.extraArgs``, in its order, then the operator's extra flags.

    The guide's seven are the deploy's own (``settings.OWNED_FLAGS`` refuses operator
    flags of those names), so the operator's only add. ``etcd_metrics_address=member``
    adds the member's address to kubeadm's metrics listener, loopback first: kubeadm's
    liveness and startup probes use the first URL.
    """
    settings = cluster.settings
    client_url = member.client_url(settings.client_port)
    peer_url = member.peer_url(settings.peer_port)
    args: list[Arg] = [
        ("initial-cluster", member.initial_cluster or cluster.initial_cluster),
        ("initial-cluster-state", member.initial_cluster_state or "new"),
        ("name", member.name),
        ("listen-peer-urls", peer_url),
        ("listen-client-urls", client_url),
        ("advertise-client-urls", client_url),
        ("initial-advertise-peer-urls", peer_url),
    ]
    if settings.metrics_address == "member":
        args.append(("listen-metrics-urls", metrics_urls(member)))
    return args + list(settings.extra_args)


def metrics_urls(member: Member) -> str:
    """kubeadm's loopback metrics URL, then the member's own (``etcd_metrics_address=member``)."""
    return ",".join(
        f"http://{join_host_port(address, METRICS_PORT)}"
        for address in (member.loopback, member.address)
    )


def base_args(cluster: Cluster, member: Member, etcd_version: str) -> list[Arg]:
    """kubeadm's default etcd flags for an init node (before extraArgs)."""
    settings = cluster.settings
    pki = settings.pki_dir
    local = member.loopback
    address = member.address
    client = f"https://{join_host_port(address, KUBEADM_CLIENT_PORT)}"
    peer = f"https://{join_host_port(address, KUBEADM_PEER_PORT)}"
    ca_cert = ETCD_CA.cert_path(pki)
    args: list[Arg] = [
        ("name", member.name),
        ("listen-client-urls", f"https://{join_host_port(local, KUBEADM_CLIENT_PORT)},{client}"),
        ("advertise-client-urls", client),
        ("listen-peer-urls", peer),
        ("initial-advertise-peer-urls", peer),
        ("data-dir", settings.data_dir),
        ("cert-file", ETCD_SERVER.cert_path(pki)),
        ("key-file", ETCD_SERVER.key_path(pki)),
        ("trusted-ca-file", ca_cert),
        ("client-cert-auth", "true"),
        ("peer-cert-file", ETCD_PEER.cert_path(pki)),
        ("peer-key-file", ETCD_PEER.key_path(pki)),
        ("peer-trusted-ca-file", ca_cert),
        ("peer-client-cert-auth", "true"),
        ("snapshot-count", "10000"),
        ("listen-metrics-urls", f"http://{join_host_port(local, METRICS_PORT)}"),
        ("initial-cluster", f"{member.name}={peer}"),
    ]
    if uses_etcd36_flags(etcd_version):
        args += [
            ("feature-gates", "InitialCorruptCheck=true"),
            ("watch-progress-notify-interval", "5s"),
        ]
    else:
        args += [
            ("experimental-initial-corrupt-check", "true"),
            ("experimental-watch-progress-notify-interval", "5s"),
        ]
    return args


def merge_args(base: list[Arg], extra: list[Arg]) -> list[Arg]:
    """kubeadm's ArgumentsToCommand: extra args replace base args by name; sort by name, value."""
    overridden = {name for name, _ in extra}
    merged = [arg for arg in base if arg[0] not in overridden] + extra
    return sorted(merged)


def etcd_args(cluster: Cluster, member: Member, etcd_version: str) -> list[Arg]:
    return merge_args(base_args(cluster, member, etcd_version), guide_extra_args(cluster, member))


def etcd_command(
    cluster: Cluster, member: Member, etcd_version: str, binary: str = "etcd"
) -> list[str]:
    """``[binary, --name=value, ...]`` as in the static pod's ``command``."""
    return [binary] + [
        f"--{name}={value}" for name, value in etcd_args(cluster, member, etcd_version)
    ]
