"""What the deploy's own files, directories and units look like on a host, read in the survey,
and what else changes what those units run: their drop-ins and systemd's manager environment.

pyinfra's file and service operations each ask the host for facts (a ``stat``, a
checksum, ``systemctl show``): some fifteen round trips per member on a run that
changes nothing. The survey reads all of it at once (``scripts/host_state.sh``); the
predicates here say whether an operation could change anything, and only then is
pyinfra's own operation asked (``engine/converge.py``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from etcd_cluster import scripts
from etcd_cluster.errors import RemoteReadError

_SHA256 = "@@sha256@@"  # sha256sum's lines follow
_UNITS = "@@units@@"  # systemctl show's lines follow
_KINDS = {"regular file": "f", "regular empty file": "f", "directory": "d"}  # stat's %F
# pyinfra's SystemdStatus and SystemdEnabled facts count these as running and enabled.
RUNNING_SUBSTATES = frozenset({"running", "waiting", "exited", "listening", "mounted"})
ENABLED_STATES = frozenset({"enabled", "static"})


@dataclass(frozen=True)
class PathState:
    kind: str  # "f" regular file, "d" directory, "o" anything else (a link, a socket...)
    mode: str  # octal, at least three digits
    user: str
    group: str
    sha256: str = ""  # files only


@dataclass(frozen=True)
class UnitState:
    sub_state: str
    unit_file_state: str

    @property
    def running(self) -> bool:
        return self.sub_state in RUNNING_SUBSTATES

    @property
    def enabled(self) -> bool:
        return self.unit_file_state in ENABLED_STATES


@dataclass(frozen=True)
class HostState:
    """Paths and units as surveyed: one asked about but missing here was absent; one
    not asked about is unknown (the operation asks the host itself)."""

    paths: dict[str, PathState] = field(default_factory=dict)
    units: dict[str, UnitState] = field(default_factory=dict)
    asked: frozenset[str] = frozenset()  # the paths and units the survey asked about
    dropins: dict[str, bytes] = field(default_factory=dict)  # drop-in path -> content
    manager_env: tuple[str, ...] = ()  # names in systemd's manager environment

    def knows(self, path_or_unit: str) -> bool:
        return path_or_unit in self.asked

    def absent(self, path: str) -> bool:
        return self.knows(path) and path not in self.paths

    def content_matches(self, path: str, content: bytes) -> bool:
        """A regular file (not a link) with this content, whatever its mode and owner."""
        found = self.paths.get(path)
        return (
            found is not None
            and found.kind == "f"
            and found.sha256 == hashlib.sha256(content).hexdigest()
        )

    def file_matches(self, path: str, content: bytes, mode: str, user: str, group: str) -> bool:
        found = self.paths.get(path)
        return (
            found is not None
            and self.content_matches(path, content)
            and (found.mode, found.user, found.group) == (mode.zfill(3), user, group)
        )

    def directory_matches(self, path: str, mode: str, user: str, group: str) -> bool:
        found = self.paths.get(path)
        return (
            found is not None
            and found.kind == "d"
            and (found.mode, found.user, found.group) == (mode.zfill(3), user, group)
        )

    def modes(self, paths: Iterable[str]) -> dict[str, str] | None:
        """``{path: "mode user group"}`` of the regular files among ``paths`` (None: a path
        was not asked about), as ``facts.FileModes`` reports them."""
        if not all(self.knows(p) for p in paths):
            return None
        return {
            p: f"{found.mode} {found.user} {found.group}"
            for p in paths
            if (found := self.paths.get(p)) is not None and found.kind == "f"
        }

    def unit_matches(self, unit: str, running: bool, enabled: bool) -> bool:
        found = self.units.get(unit)
        return found is not None and (found.running, found.enabled) == (running, enabled)


def host_state_command(
    paths: Iterable[str],
    units: Iterable[str],
    stat_only: Iterable[str] = (),
    overrides: Iterable[str] = (),
) -> str:
    """The survey's part that reads ``paths``, ``units`` and, without checksums, the mode
    and owner of ``stat_only`` (one line each that exists; a path in both is stat only);
    ``overrides``: the ``dropins:<dir>`` and ``manager-env`` arguments
    (``managed.overrides_asked``), passed as they are and named so in ``asked``."""
    stat_only = list(stat_only)  # a path named in both is not hashed (keys are not read)
    items = [f"path:{p}" for p in paths if p not in stat_only] + [f"stat:{p}" for p in stat_only]
    return scripts.command("host_state", *items, *(f"unit:{u}" for u in units), *overrides)


def parse_host_state(lines: Sequence[str], asked: Iterable[str] = ()) -> HostState:
    """``asked``: the paths and units passed to ``host_state_command``. sha256sum's and
    systemctl's lines come unprefixed after a marker (a prefix would cost a process each);
    a line that is none of the script's raises ``RemoteReadError`` rather than be misread."""
    stats: dict[str, tuple[str, str, str, str]] = {}
    digests: dict[str, str] = {}
    unit_blocks: list[dict[str, str]] = [{}]
    dropins: dict[str, bytes] = {}
    manager_env: list[str] = []
    section = ""
    for line in lines:
        if line in (_SHA256, _UNITS):
            section = line
            continue
        key, colon, value = line.partition(":")
        if colon and key == "stat" and value.count("|") >= 4:
            file_type, mode, user, group, path = value.split("|", 4)
            stats[path] = (_KINDS.get(file_type, "o"), mode.zfill(3), user, group)
        elif colon and key == "dropin" and " " in value:
            encoded, _, path = value.partition(" ")
            try:
                dropins[path] = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise _unexpected(line) from None
        elif colon and key == "env":
            if value:
                manager_env.append(value)
        elif section == _SHA256 and "  " in line:
            digest, _, path = line.partition("  ")
            digests[path] = digest
        elif section == _UNITS and (not line or "=" in line):
            name, _, setting = line.partition("=")
            if name:
                unit_blocks[-1][name] = setting
            else:  # systemctl ends each unit's block with an empty line
                unit_blocks.append({})
        else:
            raise _unexpected(line)
    paths = {
        path: PathState(kind, mode, user, group, digests.get(path, "") if kind == "f" else "")
        for path, (kind, mode, user, group) in stats.items()
    }
    units = {
        block["Id"]: UnitState(block.get("SubState", ""), block.get("UnitFileState", ""))
        for block in unit_blocks
        if block.get("Id")
    }
    return HostState(paths, units, frozenset(asked), dropins, tuple(manager_env))


def _unexpected(line: str) -> RemoteReadError:
    return RemoteReadError(f"unexpected output from host_state.sh: {line[:200]!r}")
