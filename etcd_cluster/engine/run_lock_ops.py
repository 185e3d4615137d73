"""The run lock's pyinfra glue: check it while preparing, take it first, give it back last.

While pyinfra prepares, the survey's lock status of every member decides (pure:
``run_lock.plan_lock``) whether another run holds the lock: then this run refuses
before any host changes (``--dry`` only warns). The first operation of a run that
changes something takes the lock on every member, first member first, once for the
whole run (every host's operation waits for that one outcome and fails with it, so a
refusal stops every host); the other members' parts are taken side by side once the
first member's is held. The last operation gives each member's lock back; a host
that fails is left out of later operations by pyinfra, so its lock is given back as
soon as it fails (``_ReleaseOnFailure``). A controller killed outright leaves the lock:
the next run from the same machine sees the holder's process gone, any other after
``etcd_lock_ttl``.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import gevent
import gevent.lock
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import BaseStateCallback, State

from etcd_cluster import scripts
from etcd_cluster.engine.plan import once_per_run
from etcd_cluster.engine.remote import run_quietly
from etcd_cluster.engine.run_lock import (
    LOCK_DIR,
    Holder,
    LockPlan,
    LockStatus,
    acquire_refusal,
    plan_lock,
)
from etcd_cluster.errors import DeployInputError
from etcd_cluster.settings import Settings


def _process_start(pid: int) -> str:
    """When process ``pid`` started on this machine (clock ticks since boot; "" unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive_here(holder: Holder) -> bool:
    """Whether ``holder``'s process still runs on this machine (the same pid, started when
    the holder's did: a reused pid is another process)."""
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return holder.pid > 0
    return not holder.pid_start or _process_start(holder.pid) == holder.pid_start


def is_dry_run() -> bool:
    """Whether this is ``pyinfra --dry``. Deploy files are prepared in greenlets of their
    own, where click's context (greenlet-local under gevent) is not set: then the command
    line says."""
    context = click.get_current_context(silent=True)
    if context is not None:
        return bool(context.params.get("dry"))
    return "--dry" in sys.argv[1:]


@dataclass
class RunLock:
    """This run's lock: who it is, the plan, and which members it holds now."""

    holder: Holder
    order: tuple[str, ...]  # member hosts, first member first
    plan: LockPlan
    held: list[str] = field(default_factory=list)
    outcome: str | None = None  # None: not tried; "": taken; else why not
    guard: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)


_locks: dict[int, RunLock] = {}


def check_run_lock(
    state: State,
    run: str,
    order: Sequence[str],
    statuses: Mapping[str, LockStatus],
    settings: Settings,
) -> RunLock:
    """Decide, while preparing, whether this run may take the lock (refuse if not)."""

    def build(real: State) -> RunLock:
        controller = socket.gethostname()
        pid = os.getpid()
        holder = Holder(
            token=uuid.uuid4().hex,
            controller=controller,
            user=getpass.getuser(),
            pid=pid,
            pid_start=_process_start(pid),
            run=run,
        )
        holders = [s.holder for s in statuses.values() if s.holder is not None]
        alive = {h.token: _alive_here(h) for h in holders if h.controller == controller}
        plan = plan_lock(order, statuses, controller, alive, settings.lock_ttl, settings.lock_break)
        lock = RunLock(holder=holder, order=tuple(order), plan=plan)
        real.add_callback_handler(_ReleaseOnFailure(lock))
        return lock

    lock = once_per_run(_locks, state, build)
    if lock.plan.refusal:
        if not is_dry_run():
            raise DeployInputError(lock.plan.refusal)
        logger.warning(f"--> etcd: {lock.plan.refusal}")
    for note in lock.plan.notes:
        logger.warning(f"--> etcd: {note}")
    return lock


def _run_lock(state: State) -> RunLock:
    lock = _locks.get(id(state))
    if lock is None:
        raise DeployInputError("the run lock was not checked while preparing")
    return lock


def _acquire(state: State, lock: RunLock, name: str) -> str:
    """Take ``name``'s part of the lock: "" when taken (then held), else why not."""
    command = scripts.command(
        "run_lock",
        "acquire",
        LOCK_DIR,
        lock.holder.token,
        lock.plan.last.get(name, ""),
        lock.plan.breaks.get(name, ""),
        *lock.holder.fields(),
    )
    _, stdout, stderr = run_quietly(state.inventory.get_host(name), command)
    refusal = acquire_refusal(name, stdout.splitlines(), stderr)
    if not refusal:
        lock.held.append(name)
    return refusal


def _acquire_everywhere(state: State, lock: RunLock) -> str:
    """Take the first member's lock, then the others' side by side; on a refusal give
    back what was taken. The first member decides between two runs: every run asks it
    first, so a run that holds it is the only one asking the others."""
    first, *others = lock.order
    refusal = _acquire(state, lock, first)
    if not refusal:
        attempts = [gevent.spawn(_acquire, state, lock, name) for name in others]
        gevent.joinall(attempts, raise_error=True)
        refusal = "; ".join(a.value for a in attempts if a.value)
    if refusal:
        for taken in reversed(list(lock.held)):
            _release(state.inventory.get_host(taken), lock, untouched=True)
        return refusal
    logger.info(f"--> etcd: run lock taken on {', '.join(lock.order)}")
    return ""


def _refuse(state: State, host: Host, why: str) -> bool:
    host.log_styled(f"refused: {why}", fg="red", log_func=logger.error)
    return False


@operation(is_idempotent=True)
def take_run_lock():
    """Take the cluster's run lock on every member, first member first (call on every host
    of a run that changes the cluster, as its first operation).

    The lock is not the cluster's state: taking it is no change (a run's other steps
    judge "changed in this run" without it); failing to take it fails every host.
    """
    if not host.state.is_executing:
        host.noop("taken when the run starts")
        return
    lock = _run_lock(host.state)
    with lock.guard:  # one attempt for the whole run; every host waits for it
        if lock.outcome is None:
            lock.outcome = _acquire_everywhere(host.state, lock)
    if lock.outcome:
        yield FunctionCommand(_refuse, (lock.outcome,), {})
        return
    host.noop("run lock held")


def _release(target: Host, lock: RunLock, untouched: bool = False) -> bool:
    """Give back ``target``'s lock (``untouched``: before this run changed anything)."""
    args = ["untouched"] if untouched else []
    command = scripts.command("run_lock", "release", LOCK_DIR, lock.holder.token, *args)
    ok, _, stderr = run_quietly(target, command)
    if target.name in lock.held:
        lock.held.remove(target.name)
    if not ok:
        target.log_styled(
            f"could not give back the run lock: {stderr.strip()}", fg="red", log_func=logger.error
        )
    return ok


def _failed(state: State, host: Host) -> bool:
    return False


@operation(is_idempotent=True)
def release_run_lock():
    """Give back this member's part of the run lock (call on every host, last; no change,
    as taking it is none)."""
    lock = _locks.get(id(host.state))
    if not host.state.is_executing or lock is None or host.name not in lock.held:
        host.noop("no run lock held here")
        return
    if not _release(host, lock):
        yield FunctionCommand(_failed, (), {})
        return
    host.noop("run lock given back")


class _ReleaseOnFailure(BaseStateCallback):
    """A failed host runs no later operation: give its lock back when it fails (the run
    still holds the others, so no other run can start while this one goes on)."""

    def __init__(self, lock: RunLock) -> None:
        self.lock = lock

    def operation_host_error(  # type: ignore[override]
        self, state: State, host: Host, op_hash, retry_count: int = 0, max_retries: int = 0
    ) -> None:
        if state.get_op_meta(op_hash).global_arguments.get("_ignore_errors"):
            return
        if host.name in self.lock.held:
            _release(host, self.lock)
