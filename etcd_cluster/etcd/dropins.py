"""Which systemd drop-ins and manager environment variables may stay: pure decisions.

The deploy writes etcd's unit (and the snapshot service and timer) whole, but systemd runs
the *effective* unit: the file plus every drop-in ``*.conf`` in the unit's ``.d``
directories, plus systemd's manager environment (``systemctl set-environment``), which
every service it starts inherits. A drop-in that sets ``Environment=ETCD_UNSAFE_NO_FSYNC``
or ``ExecStartPre=``, or a timer drop-in that moves the schedule a year away, changes what
etcd (or its backup) runs as surely as an edit of the unit file. So a drop-in passes only
when every setting in it is one of the resource limits and the like below (it is then
kept, and named once in a warning); anything else is moved aside. Unknown keys count as
changes: an allow list fails safe.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Where systemd looks for a unit's drop-ins (systemd.unit(5)'s unit search path), highest
# priority first. /lib/systemd/system is /usr/lib/systemd/system on merged-/usr systems.
DROPIN_ROOTS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/run/systemd/generator.late",
)

# Settings a drop-in may hold and stay: limits, scheduling, restart policy, descriptions,
# ordering and mounts (a dedicated data disk: RequiresMountsFor=/var/lib/etcd).
KEPT_NAMES = frozenset(
    {
        "Description",
        "Documentation",
        "After",
        "Before",
        "Wants",
        "Requires",
        "RequiresMountsFor",
        "Nice",
        "OOMScoreAdjust",
        "OOMPolicy",
        "TasksMax",
        "TasksAccounting",
        "TimeoutSec",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "AllowedCPUs",
        "AllowedMemoryNodes",
        "Slice",
    }
)
KEPT_PREFIXES = ("Limit", "CPU", "Memory", "IO", "BlockIO", "Startup", "Restart", "StartLimit")

# Manager environment variables that change what etcd or etcdctl does.
WATCHED_ENV_PREFIXES = ("ETCD",)  # ETCD_* flags, ETCD_UNSAFE_*, ETCDCTL_*
WATCHED_ENV_NAMES = frozenset({"GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK"})


def dropin_dirs(unit: str) -> list[str]:
    """Every directory whose ``*.conf`` files are drop-ins for ``unit``: ``unit.d``, the
    dash-prefix forms (``etcd-.service.d`` applies to ``etcd-backup.service``) and the
    per-type ``service.d``, under each of ``DROPIN_ROOTS``."""
    stem, dot, kind = unit.rpartition(".")
    assert dot, unit
    names = [f"{unit}.d"]
    parts = stem.split("-")
    names += [f"{'-'.join(parts[:i])}-.{kind}.d" for i in range(len(parts) - 1, 0, -1)]
    names.append(f"{kind}.d")
    return [posixpath.join(root, name) for root in DROPIN_ROOTS for name in names]


def settings_in(content: bytes) -> list[str]:
    """The setting names a unit file or drop-in assigns, in order (comments, sections and
    continuation lines skipped)."""
    names = []
    continued = False
    for raw in content.decode(errors="replace").splitlines():
        line = raw.strip()
        was_continued, continued = continued, line.endswith("\\")
        if was_continued or not line or line[0] in "#;[":
            continue
        name, sep, _ = line.partition("=")
        names.append(name.strip() if sep else line)
    return names


def kept_setting(name: str) -> bool:
    return name in KEPT_NAMES or name.startswith(KEPT_PREFIXES)


@dataclass(frozen=True)
class DropInVerdict:
    """One drop-in file and what it sets; ``changes`` are the settings that move it aside."""

    path: str
    unit: str
    settings: tuple[str, ...]

    @property
    def changes(self) -> tuple[str, ...]:
        return tuple(name for name in self.settings if not kept_setting(name))

    @property
    def kept(self) -> bool:
        return not self.changes


def judge(dropins: Mapping[str, bytes], units: Iterable[str]) -> list[DropInVerdict]:
    """A verdict for each file of ``dropins`` (path -> content) that applies to ``units``."""
    verdicts = []
    for unit in units:
        dirs = set(dropin_dirs(unit))
        for path in sorted(dropins):
            if posixpath.dirname(path) in dirs and path.endswith(".conf"):
                verdicts.append(DropInVerdict(path, unit, tuple(settings_in(dropins[path]))))
    return verdicts


def to_move_aside(verdicts: Iterable[DropInVerdict]) -> list[str]:
    """The drop-in files to move aside (each once, though it may apply to several units)."""
    return sorted({v.path for v in verdicts if not v.kept})


def watched_env(names: Iterable[str]) -> list[str]:
    """The environment variable names among ``names`` that change what etcd does."""
    return sorted(
        {n for n in names if n.startswith(WATCHED_ENV_PREFIXES) or n in WATCHED_ENV_NAMES}
    )


def kept_warnings(host: str, verdicts: Iterable[DropInVerdict]) -> list[str]:
    """One warning per kept drop-in: it stays, but the operator should know it is there."""
    return [
        f"{host}: {v.path} ({v.unit}) kept: it only sets {', '.join(v.settings) or 'nothing'}"
        for v in verdicts
        if v.kept
    ]
