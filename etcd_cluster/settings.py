"""Cluster-wide settings read from pyinfra data, checked and typed in one place.

Defaults and documentation live in ``group_data/all.py``; this module only turns
the (possibly ``--data key=value``) values into typed settings and refuses bad ones
with an error naming the key and the value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from etcd_cluster.errors import DeployInputError

RUNTIMES = ("static-pod", "systemd")
API_VERSIONS = ("v1beta4", "v1beta3")
KEY_ALGORITHMS = ("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384")
CGROUP_DRIVERS = ("systemd", "cgroupfs")
DEFAULT_KEY_ALGORITHM = "RSA-2048"
DEFAULT_CERT_VALIDITY_HOURS = 8760  # kubeadm's certificateValidityPeriod
DEFAULT_CA_VALIDITY_HOURS = 87600  # kubeadm's caCertificateValidityPeriod
DEFAULT_DATA_DIR = "/var/lib/etcd"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_WILDCARD_DNS = re.compile(rf"^\*\.{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_FLAG_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_UNSAFE_VALUE = re.compile(r"[\s'\"\\$%`]")
# systemd.time(7) calendar events: weekdays, dates, times, ranges, lists, repetitions,
# time zones; never a newline, quote, '$', '%' (a unit file specifier) or ';'.
_CALENDAR = re.compile(r"[A-Za-z0-9*][A-Za-z0-9 *:/.,~+_-]{0,99}")
# Flags the deploy derives from the inventory and settings: an override would desync
# the member list that the data-safety check compares, or the data dir it guards.
OWNED_FLAGS = ("name", "data-dir", "initial-cluster", "initial-cluster-state")

DataGetter = Callable[[str], Any]


@dataclass(frozen=True)
class Settings:
    """Everything cluster-wide that an operator can tune."""

    runtime: str
    kubeadm_api_version: str
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
    backup_dir: str = "/var/backups/etcd"
    backup_schedule: str = "hourly"
    backup_keep: int = 24
    etcdctl_binary: str = "/usr/bin/etcdctl"
    remove_members: tuple[str, ...] = ()
    replace_members: tuple[str, ...] = ()
    etcd_version: str = ""
    etcd_archive_url: str = ""
    etcd_archive_sha256: tuple[tuple[str, str], ...] = ()

    def archive_sha256(self, version: str) -> str:
        return dict(self.etcd_archive_sha256).get(version, "")

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
                "(etcd_name, etcd_address, etcd_data_dir); it cannot be overridden"
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
    return Settings(
        runtime=runtime,
        kubeadm_api_version=_choice(
            "kubeadm_api_version", get("kubeadm_api_version"), API_VERSIONS
        ),
        client_port=client_port,
        peer_port=peer_port,
        data_dir=_absolute_path("etcd_data_dir", get("etcd_data_dir")),
        pki_dir=_absolute_path("etcd_pki_dir", get("etcd_pki_dir")),
        kubeadm_config_path=_absolute_path(
            "etcd_kubeadm_config_path", get("etcd_kubeadm_config_path")
        ),
        manifests_dir=_absolute_path("etcd_manifests_dir", get("etcd_manifests_dir")),
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
        extra_args=extra_args("etcd_extra_args", get("etcd_extra_args")),
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
        etcd_binary=_absolute_path("etcd_binary", get("etcd_binary")),
        etcd_package=_text("etcd_package", get("etcd_package")),
        external_config_path=_text(
            "etcd_external_config_path", get("etcd_external_config_path"), allow_empty=False
        ),
        log_lines=_integer("etcd_log_lines", get("etcd_log_lines"), 0, 1000),
        backup_dir=_absolute_path("etcd_backup_dir", get("etcd_backup_dir")),
        backup_schedule=calendar("etcd_backup_schedule", get("etcd_backup_schedule")),
        backup_keep=_integer("etcd_backup_keep", get("etcd_backup_keep"), 1, 100000),
        etcdctl_binary=_absolute_path("etcdctl_binary", get("etcdctl_binary")),
        remove_members=_member_names("etcd_remove_members", get("etcd_remove_members")),
        replace_members=_member_names("etcd_replace_members", get("etcd_replace_members")),
        **_release(get, runtime),
    )


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
    """``etcd_version`` and where its archive comes from (systemd runtime)."""
    version = _text("etcd_version", get("etcd_version")).removeprefix("v")
    if version and not _VERSION.match(version):
        raise DeployInputError(f"etcd_version={version!r} must look like 3.5.16")
    if version and runtime != "systemd":
        raise DeployInputError(
            f"etcd_version={version!r} installs etcd for etcd_runtime='systemd'; the static-pod "
            "runtime runs the image: set etcd_image_tag instead"
        )
    url = _text("etcd_archive_url", get("etcd_archive_url"), allow_empty=False)
    if "{version}" not in url or _UNSAFE_VALUE.search(
        url.replace("{version}", "").replace("{arch}", "")
    ):
        raise DeployInputError(
            f"etcd_archive_url={url!r} must contain {{version}} (and usually {{arch}}), "
            "without spaces, quotes, backslashes, '$', '%' or '`'"
        )
    sums = get("etcd_archive_sha256") or {}
    if not isinstance(sums, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.match(v.lower())
        for k, v in sums.items()
    ):
        raise DeployInputError(
            "etcd_archive_sha256 must map each version to the archive's sha256 "
            f"(64 hex digits), e.g. {{'3.5.16': '...'}}; got {sums!r}"
        )
    checksums = tuple((k.removeprefix("v"), v.lower()) for k, v in sums.items())
    if version and version not in dict(checksums):
        raise DeployInputError(
            f"etcd_version={version!r} has no checksum in etcd_archive_sha256: add the sha256 "
            "of its release archive (the etcd release's SHA256SUMS file lists it)"
        )
    return {"etcd_version": version, "etcd_archive_url": url, "etcd_archive_sha256": checksums}
