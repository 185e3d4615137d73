# ruff: noqa: E501  (the table keeps one setting a line)
"""Every setting of the deploy in one table: name, type, default, scope and meaning.

This table is the only place a default lives. ``DEFAULTS`` (name -> default) is what the
``@deploy`` functions pass to pyinfra as ``data_defaults``; every read of a setting falls
back to it too (``setting``), since one host reading another's data (settings come from
the first member) does not see the other host's deploy defaults. ``docs/settings.md`` is
generated from it (``python -m etcd_cluster.settings_doc``).
"""

from __future__ import annotations

from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from typing import Any

from pyinfra.api.host import Host

# Where a setting is read. A cluster-wide setting is read from the first host of the
# group named here; a per-host one from each host.
PER_HOST = "per host"
ETCD = "etcd"  # the first member of the etcd group
LB = "lb"  # the first host of the lb group
CONTROL_PLANE = "control_plane"  # the first host of the control_plane group

ETCD_ARCHIVE_URL = (
    "https://github.com/etcd-io/etcd/releases/download/v{version}/"
    "etcd-v{version}-linux-{arch}.tar.gz"
)


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: Any
    scope: tuple[str, ...]  # (PER_HOST,) or the groups whose first host it is read from
    meaning: str
    section: str


def _section(title: str, *rows: tuple[str, str, Any, tuple[str, ...], str]) -> list[Setting]:
    return [Setting(*row, section=title) for row in rows]


_HOST = (PER_HOST,)
_ETCD = (ETCD,)
_LB = (LB,)
_CP = (CONTROL_PLANE,)

TABLE: tuple[Setting, ...] = tuple(
    _section(
        "Members",
        ("etcd_name", "str", None, _HOST, "etcd member name (RFC 1123); unset: `infra<index>`, as the guide"),
        ("etcd_address", "str", None, _HOST, "IPv4 or IPv6 address etcd listens on and advertises; unset: the inventory name when it is an IP (the ssh target may differ)"),
        ("etcd_server_cert_sans", "list[str]", [], _HOST, "extra SANs (IPs or DNS names) of this member's server certificate, beyond its name, localhost, its address, 127.0.0.1 and ::1"),
        ("etcd_peer_cert_sans", "list[str]", [], _HOST, "extra SANs of this member's peer certificate"),
    )
    + _section(
        "How etcd runs",
        ("etcd_runtime", "str", "static-pod", _ETCD, "`static-pod` (kubelet + `kubeadm init phase etcd local`, as the guide) or `systemd` (etcd under a systemd unit with the flags kubeadm would set)"),
        ("kubeadm_api_version", "str", "v1beta4", (ETCD, CONTROL_PLANE), "kubeadm config API: `v1beta4` (kubeadm 1.31+, the only one from 1.36) or `v1beta3` (up to 1.35)"),
        ("etcd_kubernetes_version", "str", "", _ETCD, "`kubernetesVersion` of the members' kubeadm config, e.g. `v1.34.2` (formerly `kubernetes_version`); empty: the version of the kubeadm found on each member (left out when neither is known); it decides the etcd image kubeadm picks when `etcd_image_tag` is empty"),
        ("etcd_client_port", "int", 2379, _ETCD, "clients (kube-apiserver) connect here; must differ from the peer port and from 2381 (kubeadm's metrics port)"),
        ("etcd_peer_port", "int", 2380, _ETCD, "members talk to each other here"),
        ("etcd_extra_args", "dict[str, str]", {}, _ETCD, "extra etcd flags, e.g. `{\"quota-backend-bytes\": \"8589934592\"}`, replacing the guide's of the same name; `name`, `data-dir`, `initial-cluster*` and the listen and advertise URLs are the deploy's; `wal-dir` is refused on any host (the WAL stays in the data dir); checked against the etcd version"),
        ("etcd_metrics_address", "str", "loopback", _ETCD, "where etcd serves `/metrics` on port 2381: `loopback` (kubeadm's `http://127.0.0.1:2381`) or `member` (also `http://<etcd_address>:2381`, for Prometheus; alerting rules in docs/prometheus-alerts.yaml)"),
    )
    + _section(
        "Paths on the members",
        ("etcd_data_dir", "str", "/var/lib/etcd", _ETCD, "etcd's data; never deleted (moved aside only by retire and restore)"),
        ("etcd_pki_dir", "str", "/etc/kubernetes/pki", _ETCD, "kubeadm's certificatesDir"),
        ("etcd_kubeadm_config_path", "str", "/etc/kubernetes/kubeadmcfg.yaml", _ETCD, "the guide's per-host kubeadm config"),
        ("etcd_manifests_dir", "str", "/etc/kubernetes/manifests", _ETCD, "kubelet's staticPodPath (the static-pod runtime refuses any other value: kubeadm always writes there)"),
    )
    + _section(
        "static-pod runtime",
        ("etcd_image_repository", "str", "", _ETCD, "etcd image repository, e.g. `registry.k8s.io`; empty: kubeadm's choice"),
        ("etcd_image_tag", "str", "", _ETCD, "etcd image tag, e.g. `3.6.9-0`; empty: kubeadm's choice (warned when older than 3.5.24, refused below 3.6.0 with kubeadm 1.36+)"),
        ("kubelet_cgroup_driver", "str", "systemd", _ETCD, "kubelet's cgroup driver, `systemd` or `cgroupfs` (guide step 1; match your container runtime)"),
        ("kubelet_container_runtime_endpoint", "str", "unix:///var/run/containerd/containerd.sock", _ETCD, "the CRI socket (guide step 1; also the kubeadm config's criSocket and what `crictl` uses)"),
    )
    + _section(
        "systemd runtime: where etcd comes from",
        ("etcd_binary", "str", "/usr/bin/etcd", _ETCD, "etcd to run with `etcd_version=distro` (used as is when present)"),
        ("etcd_package", "str", "etcd-server", _ETCD, "apt package installed when `etcd_binary` is absent (`\"\"`: never)"),
        ("etcd_version", "str", "", _ETCD, "the etcd release installed from etcd's archive under /opt/etcd/v<version>/, verified against the sha256 etcd published (shipped for 3.5.24 to 3.6.14, amd64 and arm64, in `etcd_cluster/etcd/release_checksums.py`); empty: the default release, 3.5.33 (kubeadm 1.29-1.36 accept >= 3.5.24; one minor step from Debian's 3.4; >= 3.5.26, which etcd requires before 3.6); `distro`: `etcd_binary`, installing `etcd_package` when absent (Debian 12's 3.4.23 is below kubeadm's minimum: the run warns). Changing it upgrades one member at a time, one minor version at a time, never down"),
        ("etcd_archive_url", "str", ETCD_ARCHIVE_URL, _ETCD, "where the archive comes from: a URL with `{version}` and `{arch}`, one `.tar.gz`, or a mirror (a URL or directory holding `etcd-v<version>-linux-<arch>.tar.gz`); a path is on the machine running pyinfra (uploaded to the members)"),
        ("etcd_archive_sha256", "dict[str, str | dict[str, str]]", {}, _ETCD, "your own checksums, added to (and overriding) the shipped ones: `{\"3.5.16\": \"<sha256>\"}` for every arch, or `{\"3.5.16\": {\"amd64\": \"...\", \"arm64\": \"...\"}}`; an archive is verified before anything is installed"),
        ("etcd_start_timeout", "int", 900, _ETCD, "seconds etcd may take to start, catching up included (the unit's `TimeoutStartSec`, 90..86400)"),
    )
    + _section(
        "Certificates",
        ("etcd_key_algorithm", "str", "RSA-2048", _ETCD, "kubeadm's encryptionAlgorithm for the CA and every member certificate: `RSA-2048`, `RSA-3072`, `RSA-4096`, `ECDSA-P256`, `ECDSA-P384`"),
        ("etcd_cert_validity_hours", "int", 8760, _ETCD, "member certificates (kubeadm: 1 year)"),
        ("etcd_ca_validity_hours", "int", 87600, _ETCD, "a new CA (kubeadm: 10 years)"),
        ("etcd_renew_before_days", "int", 30, _ETCD, "a certificate expiring within this many days is reissued (no restart); shorter than the validity"),
        ("etcd_ca_cert_file", "str", "", _ETCD, "your CA certificate, a path on the machine running pyinfra (set both or neither); empty: the first member's CA, or a new one"),
        ("etcd_ca_key_file", "str", "", _ETCD, "your CA key, a path on the machine running pyinfra"),
    )
    + _section(
        "Membership",
        ("etcd_remove_members", "list[str]", [], _ETCD, "live members to remove (named; otherwise a member missing from the inventory is refused)"),
        ("etcd_replace_members", "list[str]", [], _ETCD, "members whose data is lost: removed and added again as learners"),
    )
    + _section(
        "Snapshots and restore",
        ("etcd_backup_dir", "str", "/var/backups/etcd", _ETCD, "where snapshots go, scheduled and the deploy's own (mode 700, files 600)"),
        ("etcd_backup_schedule", "str", "hourly", _ETCD, "systemd `OnCalendar` of `etcd-backup.timer`"),
        ("etcd_backup_keep_hourly", "int", 24, _ETCD, "tiered retention, by each file's time on disk (not its name), locally and on the remote: the newest snapshot of each of the newest N hours (0: tier off); the one just made always stays"),
        ("etcd_backup_keep_daily", "int", 7, _ETCD, "... of each of the newest M days (UTC)"),
        ("etcd_backup_keep_weekly", "int", 4, _ETCD, "... of each of the newest K weeks (from Monday)"),
        ("etcd_backup_keep", "int", 0, _ETCD, "also keep the newest N whatever their times (before the tiers, all there was: 24); 0 leaves it to the tiers"),
        ("etcd_backup_keep_before_change", "int", 5, _ETCD, "the deploy's own snapshots before an upgrade or membership change kept per member (they stay local)"),
        ("etcd_cluster_name", "str", "etcd", _ETCD, "names the cluster in off-host copies: `<remote>/<cluster>/<member>/<cluster>-<member>-<UTC>.db` (or `.tar.age`); a DNS label"),
        ("etcd_backup_remote", "str", "", _ETCD, "off-host copies: an rclone remote path (`s3:bucket/etcd`, `sftp-backup:/srv/etcd`); each verified scheduled snapshot is copied there and the remote pruned by the same tiers; a failed copy fails `etcd-backup.service` (the status shows it); rclone (and age) installed from Debian only when set"),
        ("etcd_backup_rclone_config", "str", "", _ETCD, "the rclone configuration defining the remote, a file on the machine running pyinfra: uploaded to `/etc/etcd-backup/rclone.conf` (600), never shown, removed from the members when the remote is unset; `restore.py` fetches a `REMOTE:PATH` with it"),
        ("etcd_backup_age_recipient", "str", "", _ETCD, "an age public key (`age1...`) or a recipients file on the machine running pyinfra: each off-host copy is then one archive, sealed with age, of the snapshot, the etcd CA (`ca.key` too, from the first member) and `cluster.json`, which the members can write but never read; empty: only the bare snapshot goes off-host (the run says so)"),
        ("etcdctl_binary", "str", "/usr/bin/etcdctl", _ETCD, "etcdctl for snapshots and restores (etcdutl next to it or on PATH is preferred; Debian's `etcd-client` is installed when missing)"),
        ("etcd_restore_snapshot", "str", "", _ETCD, "`restore.py` only: a snapshot path on the first member, or an rclone `REMOTE:PATH` (fetched with `etcd_backup_rclone_config`); a bare `.db` or an age-encrypted `.tar.age` archive"),
        ("etcd_restore_age_identity", "str", "", _ETCD, "`restore.py` only: the age identity (private key) file on the machine running pyinfra that opens a `.tar.age` archive; it reaches the first member only while the archive is decrypted (under `/run`, removed after)"),
        ("etcd_restore_confirm", "str", "", _ETCD, "`restore.py` only: must be `yes` (a restore takes the whole cluster back in time)"),
        ("etcd_status_json", "str", "", _ETCD, "`status.py` only: also write the status report as JSON to this path on the machine running pyinfra"),
    )
    + _section(
        "Health, logs, the run lock, the hand-off",
        ("etcd_health_timeout", "int", 120, _ETCD, "seconds to wait for a healthy cluster with one leader (and per restart); waits longer than 5 s log a line every 5 s"),
        ("etcd_health_interval", "int", 1, _ETCD, "the longest wait between health probes, in seconds (retries start 0.1 s apart and double)"),
        ("etcd_log_lines", "int", 30, _ETCD, "log lines shown for a failing member"),
        ("etcd_lock_ttl", "int", 3600, _ETCD, "seconds after which another machine's run lock counts as left by a killed run (longer than your longest run)"),
        ("etcd_lock_break", "str", "no", _ETCD, "`yes`: take over whatever run lock is held (only once you know its run is gone)"),
        ("etcd_defrag_free_percent", "int", 50, _ETCD, "a member whose DB file is at least this share free space (and `etcd_defrag_free_mb`) is defragmented: one member at a time behind the restart gate, followers first, leadership moved off the leader first (Talos: below 50 % in use)"),
        ("etcd_defrag_free_mb", "int", 100, _ETCD, "... and at least this many MiB of free space (etcd-defrag's example rule: 200 MB)"),
        ("etcd_nospace_recover", "str", "no", _ETCD, "an active NOSPACE alarm makes every run refuse; `yes` compacts to the current revision, defragments every member, disarms the alarm and checks a write"),
        ("etcd_external_config_path", "str", "etcd-external.yaml", _ETCD, "where the control plane's `etcd.external` block is written, on the machine running pyinfra"),
    )
    + _section(
        "HA control plane: load balancer (group `lb`)",
        ("k8s_address", "str", None, _HOST, "the address other hosts reach this host at; unset: `etcd_address`, else the inventory name if it is an IP"),
        ("k8s_lb_vip", "str", "", _LB, "the virtual IP keepalived holds on one `lb` host (VRRP); required with an `lb` group"),
        ("k8s_lb_port", "int", 6443, _LB, "haproxy's frontend port on the VIP; must differ from `k8s_apiserver_port` on hosts that run both"),
        ("k8s_apiserver_port", "int", 6443, _LB, "where each kube-apiserver listens"),
        ("k8s_apiserver_backends", "list[str]", [], _LB, "haproxy's backends, `address:port` (`[v6]:port`); empty: every `control_plane` host's `k8s_address` with `k8s_apiserver_port`"),
        ("k8s_lb_vrrp_interface", "str", "", _HOST, "the interface VRRP runs on and the VIP is added to; empty: the one holding the host's `k8s_address`"),
        ("k8s_lb_vrrp_router_id", "int", 51, _LB, "VRRP virtual router id (1..255), unique on the network segment"),
    )
    + _section(
        "HA control plane: control plane (groups `control_plane`, `workers`)",
        ("k8s_version", "str", "1.33.2", _CP, "the control plane's Kubernetes version (kubeadm's `kubernetesVersion`); kubeadm and kubelet on the hosts must be this version"),
        ("k8s_etcd_topology", "str", "", _CP, "`external` (this project's `etcd` group) or `stacked` (`etcd.local`); empty: external when the inventory has an `etcd` group"),
        ("k8s_control_plane_endpoint", "str", "", _CP, "kubeadm's `controlPlaneEndpoint`, `address:port`; empty: `k8s_lb_vip:k8s_lb_port`"),
        ("k8s_pod_subnet", "str", "10.244.0.0/16", _CP, "`networking.podSubnet` (must match the CNI manifest's)"),
        ("k8s_service_subnet", "str", "10.96.0.0/12", _CP, "`networking.serviceSubnet` (kubeadm's default)"),
        ("k8s_cni_manifest", "str", "", _CP, "CNI manifest applied once the first control plane answers: a path on the machine running pyinfra or a URL; empty: none"),
        ("k8s_pki_dir", "str", "/etc/kubernetes/pki", _CP, "kubeadm's certificatesDir on control-plane hosts"),
        ("k8s_key_algorithm", "str", "RSA-2048", _CP, "key algorithm of the shared CAs the deploy makes (ca, front-proxy-ca, sa, and the etcd CA when stacked)"),
        ("k8s_ca_validity_hours", "int", 87600, _CP, "validity of the shared CAs the deploy makes"),
        ("k8s_run_kubeadm", "bool", True, _CP, "`False`: stop after the shared CAs and kubeadm configs (no kubeadm or kubelet needed yet); `True`: also preflight and run kubeadm init/join"),
    )
)  # fmt: skip

SETTINGS: dict[str, Setting] = {s.name: s for s in TABLE}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in TABLE}
# Keys an operator may still have from before a rename: refused, naming the new key.
RENAMED = {"kubernetes_version": "etcd_kubernetes_version"}
# Data keys with these prefixes are the deploy's: one the table does not know is refused.
PREFIXES = ("etcd_", "k8s_")


def setting(host: Host, key: str) -> Any:
    """``host``'s value of ``key``, else the table's default (KeyError for an unknown key)."""
    return host.data.get(key, copy(DEFAULTS[key]))


def getter(host: Host) -> Callable[[str], Any]:
    """``setting`` bound to ``host``, for the ``settings_from_data`` readers."""
    return lambda key: setting(host, key)
