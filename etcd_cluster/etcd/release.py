"""A chosen etcd version from etcd's release archive, and the rules for moving between versions.

With ``etcd_version`` set (systemd runtime), each version is unpacked side by side under
``/opt/etcd/v<version>/`` from an archive in upstream's layout
(``etcd-v<version>-linux-<arch>/{etcd,etcdctl,etcdutl}``), verified against
``etcd_archive_sha256`` before anything is installed, and the unit points at the
chosen one; the previous version stays until the upgrade is done. Moving a running
cluster between versions follows etcd's upgrade rules: one minor version at a time,
never down (a downgrade needs etcd's own downgrade procedure), on a healthy cluster.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Mapping

from etcd_cluster.etcd import release_checksums
from etcd_cluster.etcd.flags import parse_version
from etcd_cluster.settings import Settings

INSTALL_ROOT = "/opt/etcd"
ARCHIVE_DIR = f"{INSTALL_ROOT}/archives"
# uname -m -> the architecture in etcd's release archive names
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


def install_dir(version: str) -> str:
    return posixpath.join(INSTALL_ROOT, f"v{version}")


def archive_name(version: str, arch: str) -> str:
    return f"etcd-v{version}-linux-{arch}.tar.gz"


def archive_path(version: str, arch: str) -> str:
    """Where the archive is kept on a member (verified again before each install)."""
    return posixpath.join(ARCHIVE_DIR, archive_name(version, arch))


def release_arch(machine: str) -> str:
    """``uname -m`` as etcd's archives name it; "" when etcd publishes none for it."""
    return ARCHITECTURES.get(machine, "")


def archive_source(settings: Settings, arch: str) -> str:
    """The archive's URL, or its absolute path on the machine running pyinfra."""
    return settings.etcd_archive_url.format(version=settings.etcd_version, arch=arch)


def is_local(source: str) -> bool:
    return source.startswith("/")


def etcd_binary(settings: Settings) -> str:
    """The etcd the unit runs: the chosen release's, else ``etcd_binary``."""
    if settings.etcd_version:
        return posixpath.join(install_dir(settings.etcd_version), "etcd")
    return settings.etcd_binary


# etcd requires 3.5.26+ before 3.6: older 3.5 clusters can bring back removed members
# as "zombies" in 3.6 (etcd.io/blog/2025/zombie_members_upgrade)
BEFORE_36 = (3, 5, 26)


def version_change_refusals(
    running: Mapping[str, str], target: str, setting: str = "etcd_version"
) -> list[str]:
    """Why members running ``running`` (host -> version, "" unknown) cannot move to
    ``target``, chosen by ``setting`` (etcd_version, or etcd_image_tag for static pods)."""
    wanted = parse_version(target)
    if wanted is None:
        return []
    refusals = []
    for host, version in sorted(running.items()):
        current = parse_version(version)
        if current is None or current == wanted:
            continue
        if current > wanted:
            refusals.append(
                f"host {host} runs etcd {version}, newer than {target}: a downgrade is not "
                "automated (it needs etcd's downgrade procedure); refusing"
            )
        elif current[:2] != wanted[:2] and (current[0], current[1] + 1) != wanted[:2]:
            step = f"{current[0]}.{current[1] + 1}"
            refusals.append(
                f"host {host} runs etcd {version}: upgrading to {target} skips a minor "
                f"version; upgrade to {step} first: {_step_first(setting, step, target)}"
            )
        elif wanted[:2] == (3, 6) and current < BEFORE_36:
            refusals.append(
                f"host {host} runs etcd {version}: etcd upgrades to 3.6 only from 3.5.26 or "
                f"newer; upgrade to 3.5.26+ first: {_step_first(setting, '3.5', target)}"
            )
    return refusals


def _step_first(setting: str, minor: str, target: str) -> str:
    """The way out of a refused jump: a release of ``minor`` first, then ``target``."""
    if setting != "etcd_version":
        return f"set {setting} to a {minor} release, run, then choose {target}"
    return (
        f"set etcd_version to a {minor} release (e.g. '{newest_shipped(minor)}'), run, then "
        f"choose {target}; or set etcd_version='distro' to keep the distribution's etcd"
    )


def newest_shipped(minor: str) -> str:
    """The newest shipped release of ``minor`` ("3.5"), or the minor itself if none."""
    found = [v for v in release_checksums.SHA256 if v.startswith(f"{minor}.")]
    return found[-1] if found else minor


def upgrading(running: Mapping[str, str], target: str) -> list[str]:
    """Hosts whose running etcd is older than ``target``."""
    wanted = parse_version(target)
    return sorted(
        host
        for host, version in running.items()
        if wanted is not None and (current := parse_version(version)) and current < wanted
    )


def archive_refusals(
    settings: Settings, host: str, machine: str, local_sha256: Callable[[str], str | None]
) -> list[str]:
    """Why ``host`` cannot install ``etcd_version`` (checked before any host changes).

    ``local_sha256(path)`` hashes a file on the machine running pyinfra (None: unreadable),
    so a local archive is verified before it is uploaded anywhere.
    """
    version = settings.etcd_version
    if not version or settings.runtime != "systemd":
        return []
    arch = release_arch(machine)
    if not arch:
        return [
            f"host {host}: etcd publishes no release archive for machine {machine!r}: leave "
            "etcd_version='distro' and install etcd there yourself (etcd_binary), or use "
            "etcd_runtime='static-pod'"
        ]
    expected = settings.archive_sha256(version, arch)
    if not expected:
        return [
            f"host {host}: no sha256 for etcd {version} on {arch} (shipped: "
            f"{', '.join(release_checksums.ARCHES)}): add it to etcd_archive_sha256, e.g. "
            f"{{'{version}': {{'{arch}': '<sha256>'}}}}, from the release's SHA256SUMS"
        ]
    source = archive_source(settings, arch)
    if not is_local(source):
        return []  # verified on the host, before it is unpacked
    actual = local_sha256(source)
    if actual is None:
        return [
            f"etcd_archive_url: cannot read {source} (etcd_version={version!r}): fix "
            "etcd_archive_url (a URL or a file on this machine) or the file's permissions"
        ]
    if actual != expected:
        return [
            f"host {host}: etcd_archive_url: {source} has sha256 {actual}, but {expected} "
            f"is {checksum_origin(settings, version, arch)} for etcd {version} on {arch}: "
            "refusing to install it; fetch the archive again from etcd's releases, or, for "
            "a build of your own, put its sha256 in etcd_archive_sha256"
        ]
    return []


def checksum_origin(settings: Settings, version: str, arch: str) -> str:
    """Where the expected sha256 comes from, for messages."""
    mine = {(v, a) for v, a, _ in settings.etcd_archive_sha256}
    if (version, arch) in mine or (version, "") in mine:
        return "etcd_archive_sha256's"
    return "the shipped checksum (etcd's published SHA256SUMS)"


def local_sha256(path: str) -> str | None:
    """sha256 of a file on the machine running pyinfra (None when it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as archive:
            for block in iter(lambda: archive.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
