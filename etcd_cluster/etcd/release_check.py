"""Whether the installed etcd release is still what its verified archive held.

``install_release.sh`` verifies the archive against ``etcd_archive_sha256``, unpacks it
and records the sha256 of each binary it held, with the archive's sha256, in a record
beside the archives (outside the release directory, which an install replaces whole).
Each run's survey (``check_release.sh``, no extra command) hashes the installed
binaries and reads that record and the directory's mode and owner; any difference is
a reason to install the release again from the archive, before anything restarts.
The restart itself (``restart_etcd.sh``) checks the binary against the record once
more, so etcd is never restarted into a binary that was not verified.

Debian's etcd-server (no ``etcd_version``) is checked with dpkg's own checksums
(``verify_package.sh``: ``dpkg --verify``); a changed /usr/bin/etcd has the same version
of the package installed again (``reinstall_package.sh``) before anything restarts.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etcd_cluster import scripts
from etcd_cluster.engine.preflight import PACKAGED_ETCD_BINARY
from etcd_cluster.etcd import release
from etcd_cluster.settings import Settings

BINARIES = ("etcd", "etcdctl", "etcdutl")  # etcdutl only in etcd 3.5+ archives
REQUIRED = ("etcd", "etcdctl")
DIRECTORY = "755 root root"


def packaged(settings: Settings) -> bool:
    """Whether the unit runs the etcd that ``etcd_package`` installs (checked by dpkg)."""
    return (
        settings.runtime == "systemd"
        and not settings.etcd_version
        and bool(settings.etcd_package)
        and settings.etcd_binary == PACKAGED_ETCD_BINARY
    )


def verification(settings: Settings) -> str:
    """How a restart verifies the binary first (``restart_etcd.sh``): the release's record,
    ``dpkg:<package>``, or "" (a binary of the operator's: not verified)."""
    if settings.etcd_version:
        return record_path(settings.etcd_version)
    return f"dpkg:{settings.etcd_package}" if packaged(settings) else ""


def package_problems(lines: Sequence[str], binary: str, package: str) -> list[str]:
    """Why ``package`` must be installed again: ``verify_package.sh`` says the etcd binary
    it installed was changed or removed (other files of the package are not etcd's to run)."""
    for line in lines:
        kind, _, path = line.partition(":")
        if path.strip() == binary and kind in ("changed", "missing"):
            state = "is not" if kind == "changed" else "is missing, not"
            return [f"{binary} {state} the file package {package} installed (dpkg --verify)"]
    return []


def record_path(version: str) -> str:
    """The install's record of the archive's checksums (one per version)."""
    return posixpath.join(release.ARCHIVE_DIR, f"v{version}.sha256")


def check_command(version: str) -> str:
    """The survey's part for the chosen release (``check_release.sh``)."""
    return scripts.command("check_release", release.install_dir(version), record_path(version))


@dataclass(frozen=True)
class ReleaseCheck:
    """What ``check_release.sh`` found."""

    directory: str = ""  # "mode user group"; "" when the release is not installed
    archive_sha256: str = ""  # the archive the record was made from ("" no record)
    recorded: dict[str, str] = field(default_factory=dict)  # binary -> sha256 at install
    found: dict[str, str] = field(default_factory=dict)  # binary -> sha256 now
    modes: dict[str, str] = field(default_factory=dict)  # binary -> "mode user group"


def parse_check(lines: Sequence[str]) -> ReleaseCheck:
    directory, archive = "", ""
    recorded: dict[str, str] = {}
    found: dict[str, str] = {}
    modes: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key == "dir":
            directory = value.strip()
        elif key == "record":
            first, _, rest = value.partition(" ")
            if first == "archive":
                archive = rest.strip()
            elif rest.strip():
                recorded[rest.strip()] = first
        elif key == "sum":
            digest, _, name = value.partition(" ")
            found[name.strip()] = digest
        elif key == "file":
            stat, _, name = value.rpartition(" ")
            modes[name] = stat
    return ReleaseCheck(directory, archive, recorded, found, modes)


def _binary_problem(check: ReleaseCheck, where: str, name: str) -> str:
    want, have, stat = check.recorded.get(name), check.found.get(name), check.modes.get(name, "")
    if want is None:
        return f"{where}/{name} is not in the record" if have or name in REQUIRED else ""
    if have is None:
        return f"{where}/{name} is missing"
    if have != want:
        return f"{where}/{name} has sha256 {have}, the archive's is {want}"
    mode, _, owner = stat.partition(" ")
    if owner != "root root" or not mode.isdigit() or int(mode, 8) & 0o022:
        return f"{where}/{name} is {stat}: owned by root, writable by root only"
    return ""


def release_problems(check: ReleaseCheck, version: str, archive_sha256: str) -> list[str]:
    """Why the installed ``version`` must be installed again from its archive (empty: it
    is what the archive of sha256 ``archive_sha256`` held). Not installed: nothing here
    (the install step installs it anyway)."""
    if not check.directory:
        return []
    where = release.install_dir(version)
    if not check.archive_sha256:
        return [f"no record of the archive {where} was installed from"]
    if check.archive_sha256 != archive_sha256:
        return [f"{where} was installed from another archive (sha256 {check.archive_sha256})"]
    problems = []
    if check.directory != DIRECTORY:
        problems.append(f"{where} is {check.directory}, wanted {DIRECTORY}")
    problems += [p for name in BINARIES if (p := _binary_problem(check, where, name))]
    return problems


def survey_parts(settings: Settings) -> dict[str, str]:
    """The survey's parts that check etcd's binary (``member_survey``): the chosen
    release's, or the package's with dpkg; none for a binary of the operator's."""
    if settings.runtime == "systemd" and settings.etcd_version:
        return {"release": check_command(settings.etcd_version)}
    if packaged(settings):
        return {"package": scripts.command("verify_package", settings.etcd_package)}
    return {}


def survey_problems(settings: Settings, parts: Mapping[str, Sequence[str]], arch: str) -> list[str]:
    """Why etcd's binary must be installed again, from the output of ``survey_parts``
    (``arch``: the member's, as etcd's archives name it)."""
    if "release" in parts:
        version = settings.etcd_version
        check = parse_check(parts["release"])
        return release_problems(check, version, settings.archive_sha256(version, arch))
    if "package" in parts:
        return package_problems(parts["package"], settings.etcd_binary, settings.etcd_package)
    return []
