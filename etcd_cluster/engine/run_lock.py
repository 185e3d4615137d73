"""One run at a time: the cluster-wide run lock, as pure decisions.

Two runs that both change the cluster (deploy.py, restore.py) would each check a gate
and then act, and could each restart a different member, or start etcd under a
restore. So a run that will change something holds a lock on every member for as
long as it changes anything. The lock is a holder file on each member (taken under
``flock``, ``scripts/run_lock.sh``), not an etcd key: a restore must take it while
the cluster has no quorum. It is taken in one fixed order, first member first, so
two runs started at the same moment meet on the first member and one of them
refuses, naming the holder; a run that got only part of it gives that part back. Only
the first member's part needs the order: the others are taken side by side after it.

Each member also keeps the token of the last run that released its lock. The survey
reads it; a run whose survey is older than another run's release refuses instead of
acting on what it read before that run changed the cluster.

A lock whose run is gone never blocks forever: the same controller host with the
holder's process gone, a lock older than ``etcd_lock_ttl`` seconds, or
``etcd_lock_break=yes`` (the operator's word that the holder is dead) make it stale,
and the next run takes it over.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etcd_cluster import scripts

# Outside the data dir (never moved by restore or retire), on every member.
LOCK_DIR = "/var/lib/etcd-deploy/run-lock"
_PREFIX = "lock:"
_HOLDER = "holder:"


def status_command() -> str:
    """The survey's part: this member's lock as it is (reads only)."""
    return scripts.command("run_lock", "status", LOCK_DIR)


@dataclass(frozen=True)
class Holder:
    """Who holds a member's lock (what the holder file says)."""

    token: str
    controller: str = "?"  # host name of the machine running pyinfra
    user: str = "?"
    pid: int = 0
    pid_start: str = ""  # the process's start time there (pid reuse)
    run: str = "?"  # deploy.py or restore.py
    since: int = 0  # the member's clock, seconds since the epoch

    def fields(self) -> list[str]:
        """``key=value`` arguments for ``run_lock.sh acquire`` (``since`` is the member's)."""
        return [
            f"token={self.token}",
            f"controller={self.controller}",
            f"user={self.user}",
            f"pid={self.pid}",
            f"pid_start={self.pid_start}",
            f"run={self.run}",
        ]

    def identity(self) -> str:
        """The run, the same on every member (``since`` is each member's own clock)."""
        return f"{self.run} run by {self.user}@{self.controller} pid {self.pid}"

    def describe(self, now: int | None = None) -> str:
        since = datetime.datetime.fromtimestamp(self.since, datetime.UTC)
        age = f", {now - self.since}s ago" if now is not None and self.since else ""
        return f"{self.identity()}, since {since:%Y-%m-%d %H:%M:%S} UTC{age}"


@dataclass(frozen=True)
class LockStatus:
    """A member's lock as read (the survey's ``lock`` section)."""

    now: int = 0  # the member's clock when read
    last: str = ""  # token of the last run that released it
    holder: Holder | None = None
    refused: str = ""  # acquire only: "held" or "moved"


def parse_status(lines: Sequence[str]) -> LockStatus:
    """``lock:now=..``, ``lock:last=..``, ``lock:holder:key=value`` lines (others ignored)."""
    values: dict[str, str] = {}
    holder: dict[str, str] = {}
    for line in lines:
        if not line.startswith(_PREFIX):
            continue
        rest = line.removeprefix(_PREFIX)
        target = values
        if rest.startswith(_HOLDER):
            rest, target = rest.removeprefix(_HOLDER), holder
        key, sep, value = rest.partition("=")
        if sep:
            target[key] = value.strip()
    found = None
    if holder:
        found = Holder(
            token=holder.get("token", ""),
            controller=holder.get("controller", "?"),
            user=holder.get("user", "?"),
            pid=_int(holder.get("pid")),
            pid_start=holder.get("pid_start", ""),
            run=holder.get("run", "?"),
            since=_int(holder.get("since")),
        )
    return LockStatus(
        now=_int(values.get("now")),
        last=values.get("last", ""),
        holder=found,
        refused=values.get("refused", ""),
    )


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def stale_reason(
    holder: Holder,
    now: int,
    controller: str,
    alive_here: bool,
    ttl: int,
    break_lock: bool,
) -> str:
    """Why ``holder``'s lock may be taken over ("" when its run may still be going).

    ``alive_here``: whether the holder's process still runs on this machine (only
    asked when ``controller`` is the holder's).
    """
    if break_lock:
        return "etcd_lock_break=yes"
    if holder.controller == controller and not alive_here:
        return f"its process {holder.pid} is gone from {controller}"
    if not holder.since or now - holder.since > ttl:
        return f"older than etcd_lock_ttl={ttl}s"
    return ""


@dataclass
class LockPlan:
    """What this run must do to take the lock, decided from the survey."""

    refusal: str = ""
    last: dict[str, str] = field(default_factory=dict)  # by host: the survey's last release
    breaks: dict[str, str] = field(default_factory=dict)  # by host: stale holder token
    notes: list[str] = field(default_factory=list)  # stale locks taken over, and why


def plan_lock(
    order: Sequence[str],
    statuses: Mapping[str, LockStatus],
    controller: str,
    alive_here: Mapping[str, bool],
    ttl: int,
    break_lock: bool,
) -> LockPlan:
    """The run's lock plan from every member's lock status, in ``order`` (first member
    first). A live holder anywhere refuses the run, naming it; a stale one is noted and
    taken over. ``alive_here``: by holder token, whether its process runs here."""
    plan = LockPlan()
    for name in order:
        status = statuses.get(name, LockStatus())
        plan.last[name] = status.last
        holder = status.holder
        if holder is None:
            continue
        why = stale_reason(
            holder, status.now, controller, alive_here.get(holder.token, True), ttl, break_lock
        )
        if not why:
            plan.refusal = (
                f"another run holds the cluster's run lock on {name}: "
                f"{holder.describe(status.now)}; wait for it to finish (a lock whose run was "
                f"killed expires after etcd_lock_ttl={ttl}s, or is broken with "
                "--data etcd_lock_break=yes once you know that run is gone)"
            )
            return plan
        plan.breaks[name] = holder.token
        plan.notes.append(
            f"{name}: the run lock of {holder.describe()} is stale ({why}): a run that "
            "changes anything takes it over"
        )
    return plan


def acquire_refusal(host_name: str, lines: Sequence[str], stderr: str) -> str:
    """Why ``run_lock.sh acquire`` did not give this run the lock on ``host_name``
    ("" when it did)."""
    if "acquired" in lines:
        return ""
    status = parse_status(lines)
    if status.refused == "held" and status.holder is not None:
        return (
            f"another run holds the cluster's run lock on {host_name}: "
            f"{status.holder.describe(status.now)}; wait for it to finish, then run again"
        )
    if status.refused == "moved":
        return (
            f"another run took and released the cluster's run lock on {host_name} after this "
            "run surveyed the cluster (it may have changed it): run again"
        )
    return f"cannot take the cluster's run lock on {host_name}: {stderr.strip() or 'failed'}"
