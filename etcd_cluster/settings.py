"""Cluster-wide settings read from pyinfra data, checked and typed in one place.

Defaults and meanings live in one table (``etcd_cluster/defaults.py``); this module only
turns the (possibly ``--data key=value``) values into typed settings and refuses bad ones
with an error naming the key and the value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import release_checksums

RUNTIMES = ("static-pod", "systemd")
API_VERSIONS = ("v1beta4", "v1beta3")
KEY_ALGORITHMS = ("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384")
CGROUP_DRIVERS = ("systemd", "cgroupfs")
# Where etcd serves /metrics (port 2381): kubeadm's loopback only, or also the member's
# own address, for a Prometheus elsewhere to scrape (plain http, as kubeadm serves it).
METRICS_ADDRESSES = ("loopback", "member")
# kubeadm's own defaults: a kubeadm config leaves out a field that has kubeadm's value.
KUBEADM_KEY_ALGORITHM = "RSA-2048"
KUBEADM_CERT_VALIDITY_HOURS = 8760  # kubeadm's certificateValidityPeriod
KUBEADM_CA_VALIDITY_HOURS = 87600  # kubeadm's caCertificateValidityPeriod
KUBEADM_DATA_DIR = "/var/lib/etcd"
# kubeadm writes static pod manifests to this fixed directory (its DefaultManifestsDir,
# not configurable by `kubeadm init phase etcd local`): kubelet must watch the same one.
KUBEADM_MANIFESTS_DIR = "/etc/kubernetes/manifests"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_WILDCARD_DNS = re.compile(rf"^\*\.{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_FLAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_KUBERNETES_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
_UNSAFE_VALUE = re.compile(r"[\s'\"\\$%`]")
# systemd.time(7) calendar events: weekdays, dates, times, ranges, lists, repetitions,
# time zones; never a newline, quote, '$', '%' (a unit file specifier) or ';'.
_CALENDAR = re.compile(r"[A-Za-z0-9*][A-Za-z0-9 *:/.,~+_-]{0,99}")
# Flags the deploy derives from the inventory and settings: an override would desync
# the member list that the data-safety check compares, or the data dir it guards.
# The listen/advertise URLs are derived from etcd_address and the ports: an override
# would make etcd listen or advertise elsewhere than the certificates and health
# checks expect.
OWNED_FLAGS = (
    "name",
    "data-dir",
    "initial-cluster",
    "initial-cluster-state",
    "listen-peer-urls",
    "listen-client-urls",
    "advertise-client-urls",
    "initial-advertise-peer-urls",
)
# Flags the deploy cannot honour. wal-dir keeps the WAL outside the data dir, while every
# data check looks for it inside (the survey's has_data, the data-safety rule, a join's
# clean start) and restore and retire move only the data dir aside: members would look
# empty after bootstrap and a restore would leave the old WAL in place.
UNSUPPORTED_FLAGS = ("wal-dir",)

DataGetter = Callable[[str], Any]


@dataclass(frozen=True)
class Settings:
    """Everything cluster-wide that an operator can tune."""

    runtime: str
    kubeadm_api_version: str
    kubernetes_version: str
    client_port: int
    peer_port: int
    data_dir: str
    pki_dir: str
    kubeadm_config_path: str
    manifests_dir: str
    image_repository: str
    image_tag: str
    kubelet_cgroup_driver: str
    kubelet_container_runtime_endpoint: str
    extra_args: tuple[tuple[str, str], ...]
    cert_validity_hours: int
    ca_validity_hours: int
    key_algorithm: str
    renew_before_days: int
    ca_cert_file: str
    ca_key_file: str
    health_timeout: int
    health_interval: int
    etcd_binary: str
    etcd_package: str
    external_config_path: str
    log_lines: int
    backup_dir: str
    backup_schedule: str
    backup_keep: int  # the newest N whatever their times (before the tiers, all there was)
    backup_keep_hourly: int
    backup_keep_daily: int
    backup_keep_weekly: int
    backup_keep_before_change: int
    cluster_name: str
    backup_remote: str  # rclone remote path for off-host copies ("" none)
    backup_rclone_config: str  # the operator's rclone.conf on the controller
    backup_age_recipients: tuple[str, ...]  # age public keys the archives are sealed to
    etcdctl_binary: str
    remove_members: tuple[str, ...]
    replace_members: tuple[str, ...]
    etcd_version: str
    etcd_archive_url: str
    etcd_archive_sha256: tuple[tuple[str, str, str], ...]  # the operator's: version, arch, sha
    start_timeout: int  # systemd: seconds etcd may take to start (TimeoutStartSec)
    lock_ttl: int
    lock_break: bool
    status_json: str  # status.py: also write the report as JSON here (controller)
    metrics_address: str
    defrag_free_percent: int  # defragment a member whose DB is this much free space
    defrag_free_mb: int  # ... and at least this many MiB of it
    nospace_recover: bool  # recover from a NOSPACE alarm instead of refusing
    notices: tuple[str, ...] = ()  # said once per run (an unencrypted remote copy): not a setting

    def archive_sha256(self, version: str, arch: str) -> str:
        """The archive's sha256: the operator's (for ``arch``, then for every arch), else
        the shipped one ("" none)."""
        mine = {(v, a): sha for v, a, sha in self.etcd_archive_sha256}
        shipped = release_checksums.SHA256.get(version, {}).get(arch, "")
        return mine.get((version, arch)) or mine.get((version, "")) or shipped

    @property
    def wal_dir(self) -> str:
        """Exists once the data dir holds an initialised member."""
        return f"{self.data_dir}/member/wal"


def is_dns_name(value: str) -> bool:
    """RFC 1123 subdomain (or wildcard), as kubeadm accepts for SANs and node names."""
    return len(value) <= 253 and bool(_DNS_SUBDOMAIN.match(value) or _WILDCARD_DNS.match(value))


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DeployInputError(f"{key}={value!r} is not supported; use one of {', '.join(choices)}")
    return str(value)


def _integer(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DeployInputError(f"{key}={value!r} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        raise DeployInputError(f"{key}={value!r} is not a whole number") from None
    if not low <= number <= high:
        raise DeployInputError(f"{key}={value!r} is out of range {low}..{high}")
    return number


def _absolute_path(key: str, value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or value.rstrip("/") == ""
        or _UNSAFE_VALUE.search(value)
    ):
        raise DeployInputError(
            f"{key}={value!r} must be an absolute path below /, without spaces, quotes, "
            "backslashes, '$', '%' or '`'"
        )
    return value.rstrip("/")


def _text(key: str, value: Any, *, allow_empty: bool = True) -> str:
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str) or (not value and not allow_empty) or "\n" in value:
        raise DeployInputError(f"{key}={value!r} must be a single-line string")
    return value


def _string_list(key: str, value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise DeployInputError(f"{key}={value!r} must be a list of strings")
    return tuple(value)


def calendar(key: str, value: Any) -> str:
    """A systemd ``OnCalendar=`` value: one line of the characters calendar specs use.

    Checked here, not with ``systemd-analyze calendar`` (the machine running pyinfra
    need not have systemd); systemd itself refuses a malformed spec when the timer loads.
    """
    if not isinstance(value, str) or not _CALENDAR.fullmatch(value.strip()):
        raise DeployInputError(
            f"{key}={value!r} must be a systemd OnCalendar value on one line "
            "(e.g. hourly, daily, *-*-* 00/4:00:00), of letters, digits, spaces and -*:/.,~+_"
        )
    return value.strip()


def san_list(key: str, value: Any) -> tuple[str, ...]:
    """Extra SANs: each an IP literal or an RFC 1123 DNS name (kubeadm drops others; we refuse)."""
    sans = _string_list(key, value)
    for san in sans:
        if not (is_ip(san) or is_dns_name(san)):
            raise DeployInputError(
                f"{key}: {san!r} is neither an IP address nor an RFC 1123 DNS name"
            )
    return sans


def extra_args(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """Extra etcd flags as a mapping or a list of {name, value}, without leading dashes."""
    if value is None or value == "":
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple) and all(
        isinstance(item, Mapping) and set(item) == {"name", "value"} for item in value
    ):
        pairs = [(item["name"], item["value"]) for item in value]
    else:
        raise DeployInputError(
            f"{key}={value!r} must be a mapping of flag name to value, "
            "or a list of {{name: ..., value: ...}}"
        )
    result: dict[str, str] = {}
    for name, flag_value in pairs:
        if not isinstance(name, str) or not _FLAG_NAME.match(name):
            raise DeployInputError(f"{key}: flag name {name!r} is invalid (no leading dashes)")
        if name in OWNED_FLAGS:
            raise DeployInputError(
                f"{key}: {name!r} is set by the deploy from the inventory and settings "
                "(etcd_name, etcd_address, etcd_client_port, etcd_peer_port, etcd_data_dir); "
                "it cannot be overridden"
            )
        if name in result:
            raise DeployInputError(f"{key}: flag {name!r} is given twice")
        if isinstance(flag_value, bool):
            flag_value = "true" if flag_value else "false"
        if not isinstance(flag_value, str | int) or _UNSAFE_VALUE.search(str(flag_value)):
            raise DeployInputError(
                f"{key}: value {flag_value!r} of {name!r} must be a string without spaces, "
                "quotes, backslashes, '$', '%' or '`'"
            )
        result[name] = str(flag_value)
    return tuple(result.items())


def refuse_unsupported_flags(host: str, value: Any) -> None:
    """One host's ``etcd_extra_args``, refused naming the host and the value when it sets a
    flag the deploy cannot honour (every host is checked: settings come from the first,
    and a value on another host would be silently ignored)."""
    key = f"host {host}: etcd_extra_args"
    for name, flag_value in extra_args(key, value):
        if name in UNSUPPORTED_FLAGS:
            raise DeployInputError(
                f"{key}: {name}={flag_value!r} is not supported: the deploy keeps the WAL "
                "inside etcd_data_dir (its data checks, restore and retire look there); "
                "remove it, and put the data dir itself on the disk you meant for the WAL"
            )


def kubernetes_version(key: str, value: Any) -> str:
    """A Kubernetes release such as 'v1.34.2' (a leading 'v' is added), or '' for unset.

    kubeadm's own default is 'stable-1', looked up over the internet: pinning it keeps
    the config (and the etcd image kubeadm picks for it) the same on every run.
    """
    text = _text(key, value)
    if not text:
        return ""
    if not _KUBERNETES_VERSION.match(text):
        raise DeployInputError(
            f"{key}={value!r} is not a Kubernetes release such as 'v1.34.2' "
            "(labels such as 'stable-1' are looked up over the internet; pin a release)"
        )
    return text if text.startswith("v") else f"v{text}"


def settings_from_data(get: DataGetter) -> Settings:
    """Build ``Settings`` from a host's data; ``get(key)`` returns the value or None."""
    runtime = _choice("etcd_runtime", get("etcd_runtime"), RUNTIMES)
    client_port = _integer("etcd_client_port", get("etcd_client_port"), 1, 65535)
    peer_port = _integer("etcd_peer_port", get("etcd_peer_port"), 1, 65535)
    if client_port == peer_port or 2381 in (client_port, peer_port):
        raise DeployInputError(
            f"etcd_client_port={client_port} and etcd_peer_port={peer_port} must differ "
            "from each other and from 2381 (kubeadm's metrics port)"
        )
    validity = _integer(
        "etcd_cert_validity_hours", get("etcd_cert_validity_hours"), 1, 24 * 365 * 100
    )
    renew = _integer("etcd_renew_before_days", get("etcd_renew_before_days"), 0, 3650)
    if renew * 24 >= validity:
        raise DeployInputError(
            f"etcd_renew_before_days={renew} must be shorter than etcd_cert_validity_hours="
            f"{validity}: every run would reissue every certificate"
        )
    manifests_dir = _absolute_path("etcd_manifests_dir", get("etcd_manifests_dir"))
    if runtime == "static-pod" and manifests_dir != KUBEADM_MANIFESTS_DIR:
        raise DeployInputError(
            f"etcd_manifests_dir={manifests_dir!r} cannot be used with etcd_runtime='static-pod': "
            f"kubeadm always writes etcd's manifest to {KUBEADM_MANIFESTS_DIR}; "
            "leave etcd_manifests_dir at its default"
        )
    flags = extra_args("etcd_extra_args", get("etcd_extra_args"))
    metrics = _choice("etcd_metrics_address", get("etcd_metrics_address"), METRICS_ADDRESSES)
    if metrics != "loopback" and "listen-metrics-urls" in dict(flags):
        raise DeployInputError(
            f"etcd_metrics_address={metrics!r} and --listen-metrics-urls in etcd_extra_args "
            "both set where etcd serves /metrics: keep one (remove the flag, or set "
            "etcd_metrics_address='loopback')"
        )
    return Settings(
        runtime=runtime,
        kubeadm_api_version=_choice(
            "kubeadm_api_version", get("kubeadm_api_version"), API_VERSIONS
        ),
        kubernetes_version=kubernetes_version(
            "etcd_kubernetes_version", get("etcd_kubernetes_version")
        ),
        client_port=client_port,
        peer_port=peer_port,
        data_dir=_absolute_path("etcd_data_dir", get("etcd_data_dir")),
        pki_dir=_absolute_path("etcd_pki_dir", get("etcd_pki_dir")),
        kubeadm_config_path=_absolute_path(
            "etcd_kubeadm_config_path", get("etcd_kubeadm_config_path")
        ),
        manifests_dir=manifests_dir,
        image_repository=_text("etcd_image_repository", get("etcd_image_repository")),
        image_tag=_text("etcd_image_tag", get("etcd_image_tag")),
        kubelet_cgroup_driver=_choice(
            "kubelet_cgroup_driver", get("kubelet_cgroup_driver"), CGROUP_DRIVERS
        ),
        kubelet_container_runtime_endpoint=_text(
            "kubelet_container_runtime_endpoint",
            get("kubelet_container_runtime_endpoint"),
            allow_empty=False,
        ),
        extra_args=flags,
        metrics_address=metrics,
        cert_validity_hours=validity,
        ca_validity_hours=_integer(
            "etcd_ca_validity_hours", get("etcd_ca_validity_hours"), 1, 24 * 365 * 100
        ),
        key_algorithm=_choice("etcd_key_algorithm", get("etcd_key_algorithm"), KEY_ALGORITHMS),
        renew_before_days=renew,
        ca_cert_file=_text("etcd_ca_cert_file", get("etcd_ca_cert_file")),
        ca_key_file=_text("etcd_ca_key_file", get("etcd_ca_key_file")),
        health_timeout=_integer("etcd_health_timeout", get("etcd_health_timeout"), 1, 3600),
        health_interval=_integer("etcd_health_interval", get("etcd_health_interval"), 1, 60),
        start_timeout=_integer("etcd_start_timeout", get("etcd_start_timeout"), 90, 86400),
        etcd_binary=_absolute_path("etcd_binary", get("etcd_binary")),
        etcd_package=_text("etcd_package", get("etcd_package")),
        external_config_path=_text(
            "etcd_external_config_path", get("etcd_external_config_path"), allow_empty=False
        ),
        log_lines=_integer("etcd_log_lines", get("etcd_log_lines"), 0, 1000),
        backup_dir=_absolute_path("etcd_backup_dir", get("etcd_backup_dir")),
        backup_schedule=calendar("etcd_backup_schedule", get("etcd_backup_schedule")),
        backup_keep_before_change=_integer(
            "etcd_backup_keep_before_change", get("etcd_backup_keep_before_change"), 1, 100000
        ),
        **_backup(get),
        etcdctl_binary=_absolute_path("etcdctl_binary", get("etcdctl_binary")),
        remove_members=_member_names("etcd_remove_members", get("etcd_remove_members")),
        replace_members=_member_names("etcd_replace_members", get("etcd_replace_members")),
        lock_ttl=_integer("etcd_lock_ttl", get("etcd_lock_ttl"), 60, 7 * 24 * 3600),
        lock_break=_yes_no("etcd_lock_break", get("etcd_lock_break")),
        status_json=_text("etcd_status_json", get("etcd_status_json")),
        defrag_free_percent=_integer(
            "etcd_defrag_free_percent", get("etcd_defrag_free_percent"), 1, 100
        ),
        defrag_free_mb=_integer("etcd_defrag_free_mb", get("etcd_defrag_free_mb"), 0, 10**7),
        nospace_recover=_yes_no("etcd_nospace_recover", get("etcd_nospace_recover")),
        **_release(get, runtime),
    )


# An rclone remote path (remote:path, or a :backend: on-the-fly remote), shell- and
# unit-safe: no spaces, quotes, backslashes, '$', '%' or '`'.
_RCLONE_REMOTE = re.compile(r"^[A-Za-z0-9_:.+@-][^\s'\"\\$%`]*:[^\s'\"\\$%`]*$")
_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


def _backup(get: DataGetter) -> dict[str, Any]:
    """Retention tiers (plus ``etcd_backup_keep``: the newest N whatever their times, as
    before tiers) and off-host copies (``etcd_backup_remote``, its rclone config and the
    age recipients the archives are sealed to)."""
    notices = []
    last = _integer("etcd_backup_keep", get("etcd_backup_keep"), 0, 100000)
    hourly = _integer("etcd_backup_keep_hourly", get("etcd_backup_keep_hourly"), 0, 100000)
    daily = _integer("etcd_backup_keep_daily", get("etcd_backup_keep_daily"), 0, 100000)
    weekly = _integer("etcd_backup_keep_weekly", get("etcd_backup_keep_weekly"), 0, 100000)
    if last + hourly + daily + weekly == 0:
        raise DeployInputError(
            "etcd_backup_keep, etcd_backup_keep_hourly, etcd_backup_keep_daily and "
            "etcd_backup_keep_weekly are all 0: keep at least one"
        )
    name = _text("etcd_cluster_name", get("etcd_cluster_name"))
    if len(name) > 63 or not re.fullmatch(_DNS_LABEL, name):
        raise DeployInputError(f"etcd_cluster_name={name!r} must be a DNS label (a-z, 0-9, -)")
    remote = _text("etcd_backup_remote", get("etcd_backup_remote")).rstrip("/")
    config = _text("etcd_backup_rclone_config", get("etcd_backup_rclone_config"))
    recipient = _text("etcd_backup_age_recipient", get("etcd_backup_age_recipient"))
    if remote and not _RCLONE_REMOTE.match(remote):
        raise DeployInputError(
            f"etcd_backup_remote={remote!r} is not an rclone remote path (remote:path, "
            "e.g. 's3:bucket/etcd'; no spaces, quotes, backslashes, '$', '%' or '`')"
        )
    if remote and not Path(config).is_file():
        raise DeployInputError(
            f"etcd_backup_rclone_config={config!r} is not a file on the controller: "
            f"etcd_backup_remote={remote!r} needs the rclone configuration that defines it"
        )
    recipients = _age_recipients(recipient) if recipient else ()
    if remote and not recipients:
        notices.append(
            f"etcd_backup_remote={remote!r} without etcd_backup_age_recipient: only the "
            "snapshots go off-host, unencrypted and without the PKI a rebuild needs; set an "
            "age public key to send encrypted archives instead"
        )
    return {
        "backup_keep": last,
        "backup_keep_hourly": hourly,
        "backup_keep_daily": daily,
        "backup_keep_weekly": weekly,
        "cluster_name": name,
        "backup_remote": remote,
        "backup_rclone_config": config if remote else "",
        "backup_age_recipients": recipients if remote else (),
        "notices": tuple(notices),
    }


def _age_recipients(value: str) -> tuple[str, ...]:
    """An age public key, or a recipients file on the controller (one key a line, # notes)."""
    if value.startswith("age1"):
        keys = [value]
    elif Path(value).is_file():
        lines = Path(value).read_text().splitlines()
        keys = [k.strip() for k in lines if k.strip() and not k.strip().startswith("#")]
    else:
        raise DeployInputError(
            f"etcd_backup_age_recipient={value!r} is neither an age public key (age1...) "
            "nor a recipients file on the controller"
        )
    bad = [k for k in keys if not _AGE_RECIPIENT.match(k)]
    if bad or not keys:
        raise DeployInputError(
            f"etcd_backup_age_recipient={value!r}: {bad[0] if bad else 'no key'!r} is not an "
            "age X25519 public key (age1...)"
        )
    return tuple(keys)


def _yes_no(key: str, value: Any) -> bool:
    """A yes/no switch ("" or unset: no); pyinfra's --data may also give a bool."""
    if value in (None, "", "no", False):
        return False
    if value in ("yes", True):
        return True
    raise DeployInputError(f"{key}={value!r} is not supported; use yes or no")


def _member_names(key: str, value: Any) -> tuple[str, ...]:
    """etcd member names (RFC 1123), as a list or a comma-separated string."""
    names = _string_list(key, value)
    for name in names:
        if not is_dns_name(name) or name.startswith("*"):
            raise DeployInputError(f"{key}: {name!r} is not an etcd member name")
    return names


_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _release(get: DataGetter, runtime: str) -> dict[str, Any]:
    """``etcd_version`` and where its archive comes from (systemd runtime).

    Unset: the shipped default release; ``distro``: "" (the distribution's package or
    ``etcd_binary``, as before releases were installed). The static-pod runtime runs
    the image, so it has no etcd_version ("" for unset and ``distro`` alike).
    """
    chosen = _text("etcd_version", get("etcd_version")).removeprefix("v")
    if runtime != "systemd":
        if chosen not in ("", release_checksums.DISTRO):
            raise DeployInputError(
                f"etcd_version={chosen!r} installs etcd for etcd_runtime='systemd'; the "
                "static-pod runtime runs the image: set etcd_image_tag instead"
            )
        chosen = release_checksums.DISTRO
    version = {"": release_checksums.DEFAULT_VERSION, release_checksums.DISTRO: ""}.get(
        chosen, chosen
    )
    if version and not _VERSION.match(version):
        raise DeployInputError(
            f"etcd_version={version!r} must look like 3.5.16 (or 'distro' for the "
            "distribution's package, or unset for the default release "
            f"{release_checksums.DEFAULT_VERSION})"
        )
    checksums = _archive_sha256(get("etcd_archive_sha256"))
    known = set(release_checksums.SHA256) | {v for v, _, _ in checksums}
    if version and version not in known:
        shipped = list(release_checksums.SHA256)
        raise DeployInputError(
            f"etcd_version={version!r} has no shipped checksum (shipped: {shipped[0]} to "
            f"{shipped[-1]}) and none in etcd_archive_sha256: add the sha256 of its release "
            "archive (the etcd release's SHA256SUMS file lists it)"
        )
    return {
        "etcd_version": version,
        "etcd_archive_url": _archive_url(get("etcd_archive_url")),
        "etcd_archive_sha256": checksums,
    }


def _archive_url(value: Any) -> str:
    """A template with {version} and {arch}: a URL or file ending in .tar.gz is one; any
    other value is a mirror (URL or directory) holding archives under etcd's names."""
    url = _text("etcd_archive_url", value, allow_empty=False)
    if not url.endswith(".tar.gz"):
        url = url.rstrip("/") + "/etcd-v{version}-linux-{arch}.tar.gz"
    braces = "{" in url.replace("{version}", "").replace("{arch}", "")
    if _UNSAFE_VALUE.search(url) or braces or not (url.startswith("/") or "://" in url):
        raise DeployInputError(
            f"etcd_archive_url={value!r} must be a URL or absolute path, a template with "
            "{version} and {arch} or a mirror directory, without spaces, quotes, "
            "backslashes, '$', '%', '`' or other braces"
        )
    return url


def _archive_sha256(value: Any) -> tuple[tuple[str, str, str], ...]:
    """The operator's checksums as (version, arch, sha256); arch "" for every arch."""
    sums = value or {}
    found: list[tuple[str, str, str]] = []
    if isinstance(sums, Mapping):
        for version, entry in sums.items():
            per_arch = entry if isinstance(entry, Mapping) else {"": entry}
            found += [(str(version).removeprefix("v"), a, s) for a, s in per_arch.items()]
    if not isinstance(sums, Mapping) or not all(
        isinstance(arch, str) and isinstance(sha, str) and _SHA256.match(sha.lower())
        for _, arch, sha in found
    ):
        raise DeployInputError(
            "etcd_archive_sha256 must map each version to the archive's sha256 "
            "(64 hex digits), or to {arch: sha256}, e.g. {'3.5.16': '...'} or "
            f"{{'3.5.16': {{'amd64': '...', 'arm64': '...'}}}}; got {sums!r}"
        )
    return tuple((version, arch, sha.lower()) for version, arch, sha in found)


# --- The HA control-plane guide: load balancer and control plane ------------------------
# Settings of "Creating Highly Available Clusters with kubeadm" (k8s_*), read from the
# first host of the group that uses them. Kept in their own section for easy merging.

K8S_TOPOLOGIES = ("external", "stacked")
KUBEADM_APISERVER_PORT = 6443  # kubeadm's bind port, without an lb group


@dataclass(frozen=True)
class LoadBalancerSettings:
    """The apiserver load balancer of the ``lb`` group: haproxy behind a keepalived VIP."""

    vip: str
    lb_port: int
    apiserver_port: int
    backends: tuple[str, ...]  # "address:port" ("[v6]:port"), in the inventory's order
    vrrp_interface: str  # "" = the interface holding each host's address
    vrrp_router_id: int


def split_host_port(key: str, value: str) -> tuple[str, int]:
    """``address:port`` or ``[v6]:port`` into its parts; refuses anything else."""
    text = value.strip()
    if text.startswith("["):
        address, sep, port = text[1:].partition("]:")
        valid = bool(sep) and ":" in address and is_ip(address)
    else:
        address, sep, port = text.rpartition(":")
        valid = bool(sep) and ":" not in address and (is_ip(address) or is_dns_name(address))
    if not valid:
        raise DeployInputError(f"{key}: {value!r} must be address:port (IPv6 as [address]:port)")
    return address, _integer(f"{key}: port of {value!r}", port, 1, 65535)


def load_balancer_settings_from_data(
    get: DataGetter, control_plane_addresses: tuple[str, ...]
) -> LoadBalancerSettings:
    """``k8s_lb_*`` settings; backends default to the control-plane hosts' addresses."""
    vip = get("k8s_lb_vip")
    if not isinstance(vip, str) or not is_ip(vip):
        raise DeployInputError(
            f"k8s_lb_vip={vip!r} must be the IP address keepalived holds for the apiservers"
        )
    apiserver_port = _integer("k8s_apiserver_port", get("k8s_apiserver_port"), 1, 65535)
    backends = _string_list("k8s_apiserver_backends", get("k8s_apiserver_backends"))
    if not backends:
        from etcd_cluster.etcd.cluster import join_host_port  # cluster imports this module

        backends = tuple(join_host_port(a, apiserver_port) for a in control_plane_addresses)
    if not backends:
        raise DeployInputError(
            "k8s_apiserver_backends is empty and there is no control_plane group: "
            "the load balancer needs at least one apiserver"
        )
    for backend in backends:
        split_host_port("k8s_apiserver_backends", backend)
    if len(set(backends)) != len(backends):
        raise DeployInputError(f"k8s_apiserver_backends={list(backends)!r} lists one twice")
    interface = _text("k8s_lb_vrrp_interface", get("k8s_lb_vrrp_interface"))
    if interface and not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", interface):
        raise DeployInputError(f"k8s_lb_vrrp_interface={interface!r} is not an interface name")
    return LoadBalancerSettings(
        vip=str(ipaddress.ip_address(vip)),
        lb_port=_integer("k8s_lb_port", get("k8s_lb_port"), 1, 65535),
        apiserver_port=apiserver_port,
        backends=backends,
        vrrp_interface=interface,
        vrrp_router_id=_integer("k8s_lb_vrrp_router_id", get("k8s_lb_vrrp_router_id"), 1, 255),
    )


@dataclass(frozen=True)
class ControlPlaneSettings:
    """The control plane of the HA guide: versions, endpoint, networks, CAs."""

    version: str  # kubeadm/kubelet/Kubernetes version, e.g. "1.33.2"
    etcd_topology: str  # "external" (the etcd group) or "stacked"
    control_plane_endpoint: str  # "host:port"
    pod_subnet: str
    service_subnet: str
    cni_manifest: str
    pki_dir: str
    key_algorithm: str
    ca_validity_hours: int
    run_kubeadm: bool
    kubeadm_api_version: str


def _version(key: str, value: Any) -> str:
    text = str(value or "").removeprefix("v")
    if not re.fullmatch(r"\d+\.\d+\.\d+", text):
        raise DeployInputError(f"{key}={value!r} must be a Kubernetes version such as 1.33.2")
    return text


def _subnet(key: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=True))
    except ValueError:
        raise DeployInputError(f"{key}={value!r} is not a network such as 10.244.0.0/16") from None


def control_plane_settings_from_data(
    get: DataGetter, has_etcd_group: bool, lb: LoadBalancerSettings | None
) -> ControlPlaneSettings:
    """``k8s_*`` settings; the endpoint defaults to the VIP and haproxy's port."""
    topology = get("k8s_etcd_topology") or ("external" if has_etcd_group else "stacked")
    topology = _choice("k8s_etcd_topology", topology, K8S_TOPOLOGIES)
    if topology == "external" and not has_etcd_group:
        raise DeployInputError(
            "k8s_etcd_topology='external' needs the etcd group (this project's etcd cluster)"
        )
    endpoint = _text("k8s_control_plane_endpoint", get("k8s_control_plane_endpoint"))
    if not endpoint and lb is not None:
        from etcd_cluster.etcd.cluster import join_host_port  # cluster imports this module

        endpoint = join_host_port(lb.vip, lb.lb_port)
    if not endpoint:
        raise DeployInputError(
            "k8s_control_plane_endpoint is empty and there is no lb group: "
            "give your load balancer's address:port"
        )
    split_host_port("k8s_control_plane_endpoint", endpoint)
    run = get("k8s_run_kubeadm")
    if not isinstance(run, bool):
        raise DeployInputError(f"k8s_run_kubeadm={run!r} must be True or False")
    return ControlPlaneSettings(
        version=_version("k8s_version", get("k8s_version")),
        etcd_topology=topology,
        control_plane_endpoint=endpoint,
        pod_subnet=_subnet("k8s_pod_subnet", get("k8s_pod_subnet")),
        service_subnet=_subnet("k8s_service_subnet", get("k8s_service_subnet")),
        cni_manifest=_text("k8s_cni_manifest", get("k8s_cni_manifest")),
        pki_dir=_absolute_path("k8s_pki_dir", get("k8s_pki_dir")),
        key_algorithm=_choice("k8s_key_algorithm", get("k8s_key_algorithm"), KEY_ALGORITHMS),
        ca_validity_hours=_integer(
            "k8s_ca_validity_hours", get("k8s_ca_validity_hours"), 1, 24 * 365 * 100
        ),
        run_kubeadm=run,
        kubeadm_api_version=_choice(
            "kubeadm_api_version", get("kubeadm_api_version"), API_VERSIONS
        ),
    )
