"""Preflight rules per host: what each runtime needs before anything is changed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from etcd_cluster import scripts
from etcd_cluster.etcd import release
from etcd_cluster.etcd.flags import version_text
from etcd_cluster.settings import Settings

SOCKET_MARK = "@socket"
PACKAGED_ETCD_BINARY = "/usr/bin/etcd"  # where Debian's etcd-server puts etcd
# Tools every member needs, and where they come from.
BASE_TOOLS = {
    "systemctl": "etcd and its snapshots run as systemd units; the host must run systemd",
    "base64": "files travel base64-encoded; install coreutils",
    "stat": "modes and owners of managed files; install coreutils",
    "install": "directories made with their mode and owner; install coreutils",
}
# The way out for a host that lacks what the guide's static-pod runtime needs.
SYSTEMD_WAY_OUT = (
    "or set `etcd_runtime=systemd` (etcd under a systemd unit: no kubelet, kubeadm, "
    "crictl or container runtime needed; `--data etcd_runtime=systemd`)"
)
# Tools the deploy runs on members and installs (same-named Debian packages) when missing.
INSTALLABLE_TOOLS = {
    "curl": "health checks",
    "openssl": "key fingerprints and served certificates",
}


def commands_to_probe(settings: Settings) -> list[str]:
    """Commands whose presence the preflight asks each member about."""
    common = [
        "systemctl",
        "base64",
        "stat",
        "install",
        "curl",
        "openssl",
        "apt-get",
        "etcdctl",
        settings.etcdctl_binary,
        *(["rclone", "age"] if settings.backup_remote else []),  # off-host copies
    ]
    if settings.runtime == "systemd" and settings.etcd_version:
        return [*common, "tar", "sha256sum"]  # to verify and unpack the release archive
    if settings.runtime == "systemd":
        return [*common, settings.etcd_binary]
    return [*common, "kubeadm", "kubelet", "crictl"]


def runtime_socket(settings: Settings) -> str:
    """The CRI socket path of ``unix://...`` endpoints (static-pod only)."""
    endpoint = settings.kubelet_container_runtime_endpoint
    if settings.runtime != "static-pod" or not endpoint.startswith("unix://"):
        return ""
    return endpoint.removeprefix("unix://")


def packages_to_install(settings: Settings, present: Collection[str]) -> list[str]:
    """Debian packages this deploy installs when their command is missing."""
    packages = [tool for tool in INSTALLABLE_TOOLS if tool not in present]
    etcd_missing = (
        settings.runtime == "systemd"
        and not settings.etcd_version
        and settings.etcd_binary not in present
    )
    if etcd_missing and _package_provides_binary(settings):
        packages.append(settings.etcd_package)
    return packages


def _package_provides_binary(settings: Settings) -> bool:
    """The package installs etcd at PACKAGED_ETCD_BINARY; another path must exist already."""
    return bool(settings.etcd_package) and settings.etcd_binary == PACKAGED_ETCD_BINARY


def missing_requirements(settings: Settings, present: Collection[str]) -> list[str]:
    """What is missing and cannot be installed here, each named with why it is needed."""
    can_install = "apt-get" in present
    missing = [
        f"{name} (needed by this deploy: {BASE_TOOLS[name]})"
        for name in BASE_TOOLS
        if name not in present
    ]
    if not can_install:
        missing += [
            f"{tool} ({why}; no apt-get to install it: install {tool} on the host)"
            for tool, why in INSTALLABLE_TOOLS.items()
            if tool not in present
        ]
    if settings.runtime == "systemd" and settings.etcd_version:
        return missing + [
            f"{tool} (to verify and unpack etcd_version={settings.etcd_version!r}: install "
            f"{'coreutils' if tool == 'sha256sum' else tool} on the host)"
            for tool in ("tar", "sha256sum")
            if tool not in present
        ]
    if settings.runtime == "systemd":
        if settings.etcd_binary not in present and not (
            _package_provides_binary(settings) and can_install
        ):
            missing.append(
                f"{settings.etcd_binary} (etcd_binary; etcd_package={settings.etcd_package!r} "
                f"can only provide {PACKAGED_ETCD_BINARY}, and needs apt-get; "
                "etcd_version='distro'): unset etcd_version to install the default etcd "
                f"release archive (or set etcd_version to a release), or install etcd at "
                f"{settings.etcd_binary}"
            )
        return missing
    tools = [name for name in ("kubeadm", "kubelet", "crictl") if name not in present]
    if tools:
        missing.append(
            f"{', '.join(tools)} (etcd_runtime='static-pod' needs kubeadm, kubelet, crictl): "
            f"install them (pkgs.k8s.io), {SYSTEMD_WAY_OUT}"
        )
    socket = runtime_socket(settings)
    if socket and SOCKET_MARK not in present:
        missing.append(
            f"container runtime socket {socket} "
            f"(kubelet_container_runtime_endpoint={settings.kubelet_container_runtime_endpoint!r})"
            ": start the container runtime (containerd, CRI-O), point "
            f"kubelet_container_runtime_endpoint at its socket, {SYSTEMD_WAY_OUT}"
        )
    return missing


@dataclass(frozen=True)
class Survey:
    """What the deploy needs to know about a member before changing it, read in one command."""

    present: list[str] = field(default_factory=list)  # commands found, plus SOCKET_MARK
    etcd_version: str = ""  # of etcd_binary, else the package's candidate version
    etcd_active: bool = False  # the systemd unit runs
    manifest: bool = False  # the static pod manifest exists
    has_data: bool = False  # the data dir holds an initialised member (a WAL)
    machine: str = ""  # uname -m
    releases: list[str] = field(default_factory=list)  # versions unpacked under /opt/etcd
    # why etcd's binary must be installed again: the chosen release no longer what its
    # archive held, or the package's binary not what dpkg installed (release_check)
    binary_problems: tuple[str, ...] = ()
    # static-pod only (empty otherwise, or when the tool is missing):
    kubeadm_version: str = ""  # `kubeadm version -o short`, e.g. "v1.34.2"
    kubelet_version: str = ""  # from `kubelet --version`, e.g. "1.34.2"
    kubelet_path: str = ""  # `command -v kubelet`: the drop-in's ExecStart runs it


def survey_script(settings: Settings, manifest: str, probe: Sequence[str] | None = None) -> str:
    """The shell script behind ``Survey``: one ``key:value`` line per finding. Whether etcd's
    unit is active (``active:yes``) comes from observe_etcd.sh, which the survey runs in the
    same command, from the systemctl it runs anyway (each process costs the survey)."""
    q = shlex.quote
    lines = [
        f"command -v {q(name)} >/dev/null 2>&1 && echo cmd:{q(name)}"
        for name in (probe if probe is not None else commands_to_probe(settings))
    ]
    socket = runtime_socket(settings)
    if socket:
        lines.append(f"[ -S {q(socket)} ] && echo cmd:{SOCKET_MARK}")
    path = release.etcd_binary(settings)
    binary = q(path)
    show = f"apt-cache show --no-all-versions {q(settings.etcd_package)} 2>/dev/null"
    candidate = f"{show} | grep '^Version:'" if settings.etcd_package else "true"
    # what the binary says it is, kept while it does not change (scripts/remember.sh)
    version = scripts.remembered(f"version:{path}", '"$1" --version 2>/dev/null | head -n 1', path)
    lines.append(
        f'if [ -x {binary} ]; then v=$({version}); else v=$({candidate}); fi; echo "version:$v"'
    )
    lines += [
        f"[ -f {q(manifest)} ] && echo manifest:yes",
        f"[ -d {q(settings.wal_dir)} ] && echo data:yes",
        # uname's machine: newer kernels' kernel.arch gives it without a process
        '{ read -r m </proc/sys/kernel/arch; } 2>/dev/null || m=$(uname -m); echo "machine:$m"',
        f"for d in {release.INSTALL_ROOT}/v*; do "
        '[ -x "$d/etcd" ] && echo "release:${d##*/v}"; done',
    ]
    if settings.runtime == "static-pod":
        lines += kubernetes_tools_lines()
    return "; ".join(lines) + "; true"


def kubernetes_tools_lines() -> list[str]:
    """Survey lines for the static-pod runtime: kubeadm's version, kubelet's path and version."""
    return [
        'k=$(kubeadm version -o short 2>/dev/null) && echo "kubeadm:$k"',
        'p=$(command -v kubelet) && echo "kubelet_path:$p" '
        '&& echo "kubelet:$("$p" --version 2>/dev/null | head -n 1)"',
    ]


def _kubeadm_version(text: str) -> str:
    """'v1.34.2' as kubeadm prints it; '' when it printed something else."""
    text = text.strip()
    return text if re.fullmatch(r"v\d+\.\d+\.\d+\S*", text) else ""


def parse_survey(lines: Sequence[str]) -> Survey:
    found: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.strip().partition(":")
        found.setdefault(key, []).append(value)
    kubelet_path = (found.get("kubelet_path") or [""])[0].strip()
    return Survey(
        present=found.get("cmd", []),
        etcd_version=version_text(" ".join(found.get("version", []))),
        etcd_active="yes" in found.get("active", []),
        manifest="yes" in found.get("manifest", []),
        has_data="yes" in found.get("data", []),
        machine=(found.get("machine") or [""])[0],
        releases=found.get("release", []),
        kubeadm_version=_kubeadm_version((found.get("kubeadm") or [""])[0]),
        kubelet_version=version_text(" ".join(found.get("kubelet", []))),
        kubelet_path=kubelet_path if kubelet_path.startswith("/") else "",
    )
