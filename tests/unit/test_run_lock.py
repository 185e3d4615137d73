"""The run lock: its decisions (pure), and ``run_lock.sh`` under a real shell."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from etcd_cluster import scripts
from etcd_cluster.engine.run_lock import (
    Holder,
    LockStatus,
    acquire_refusal,
    parse_status,
    plan_lock,
    stale_reason,
)
from etcd_cluster.engine.run_lock_ops import _alive_here, _process_start
from etcd_cluster.errors import DeployInputError

ORDER = ("etcd-0", "etcd-1", "etcd-2")
NOW = 1_800_000_000


def holder(token: str = "t1", controller: str = "ops-1", since: int = NOW - 60) -> Holder:
    return Holder(token, controller, "alice", 4242, "123", "deploy.py", since)


def held(h: Holder, last: str = "") -> LockStatus:
    return LockStatus(now=NOW, last=last, holder=h)


# --- decisions -----------------------------------------------------------------------------


def test_a_live_holder_elsewhere_is_not_stale():
    assert stale_reason(holder(), NOW, "ops-2", True, 3600, False) == ""


def test_a_holder_whose_process_is_gone_from_this_machine_is_stale():
    assert "process 4242 is gone from ops-1" in stale_reason(
        holder(), NOW, "ops-1", False, 3600, False
    )


def test_a_live_process_on_this_machine_keeps_its_lock():
    assert stale_reason(holder(), NOW, "ops-1", True, 3600, False) == ""


def test_an_old_lock_expires_and_break_takes_any_lock_over():
    old = holder(since=NOW - 3601)
    assert "etcd_lock_ttl=3600s" in stale_reason(old, NOW, "ops-2", True, 3600, False)
    assert stale_reason(holder(), NOW, "ops-2", True, 3600, True) == "etcd_lock_break=yes"
    # a holder file without a time (cut short) never blocks past the TTL either
    assert stale_reason(holder(since=0), NOW, "ops-2", True, 3600, False)


def test_plan_refuses_naming_the_holder():
    statuses = {"etcd-1": held(holder())}
    plan = plan_lock(ORDER, statuses, "ops-2", {}, 3600, False)
    assert "another run holds the cluster's run lock on etcd-1" in plan.refusal
    assert "deploy.py run by alice@ops-1 pid 4242" in plan.refusal
    assert "60s ago" in plan.refusal and "etcd_lock_break=yes" in plan.refusal


def test_plan_takes_over_stale_locks_and_remembers_the_last_release():
    statuses = {
        "etcd-0": LockStatus(now=NOW, last="old"),
        "etcd-1": held(holder("dead"), last="old"),
        "etcd-2": held(holder("dead"), last="old"),
    }
    plan = plan_lock(ORDER, statuses, "ops-1", {"dead": False}, 3600, False)
    assert plan.refusal == ""
    assert plan.breaks == {"etcd-1": "dead", "etcd-2": "dead"}
    assert plan.last == {"etcd-0": "old", "etcd-1": "old", "etcd-2": "old"}
    assert len(plan.notes) == 2 and "(its process 4242 is gone from ops-1)" in plan.notes[0]


def test_a_free_cluster_needs_nothing():
    plan = plan_lock(ORDER, {}, "ops-1", {}, 3600, False)
    assert (plan.refusal, plan.breaks, plan.notes) == ("", {}, [])


def test_parse_status_and_acquire_refusals():
    lines = [
        "lock:refused=held",
        "lock:now=1800000100",
        "lock:last=abc",
        "lock:holder:token=t9",
        "lock:holder:controller=ops-9",
        "lock:holder:user=bob",
        "lock:holder:pid=77",
        "lock:holder:run=restore.py",
        "lock:holder:since=1800000000",
        "unrelated:line",
    ]
    status = parse_status(lines)
    assert status.last == "abc" and status.now == NOW + 100 and status.refused == "held"
    assert status.holder == Holder("t9", "ops-9", "bob", 77, "", "restore.py", NOW)
    why = acquire_refusal("etcd-0", lines, "")
    assert "on etcd-0: restore.py run by bob@ops-9 pid 77" in why and "100s ago" in why
    assert why.endswith("wait for it to finish, then run again")
    assert "after this run surveyed" in acquire_refusal("etcd-1", ["lock:refused=moved"], "")
    assert "Read-only file system" in acquire_refusal("etcd-2", [], "Read-only file system")
    assert acquire_refusal("etcd-0", ["acquired"], "") == ""


# --- run_lock.sh ---------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    command = ["sh", str(scripts.path("run_lock")), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def acquire(lock: Path, token: str, last: str = "", breaking: str = "") -> list[str]:
    fields = holder(token).fields()
    return run("acquire", str(lock), token, last, breaking, *fields).stdout.splitlines()


def test_script_acquire_status_release(tmp_path: Path):
    lock = tmp_path / "run-lock"
    assert parse_status(run("status", str(lock)).stdout.splitlines()).holder is None
    assert not lock.exists()  # status only reads
    assert acquire(lock, "t1") == ["acquired"]
    assert (lock.stat().st_mode & 0o777) == 0o700
    status = parse_status(run("status", str(lock)).stdout.splitlines())
    assert status.holder is not None and status.holder.token == "t1"
    assert status.holder.controller == "ops-1" and abs(status.holder.since - status.now) < 5
    assert acquire(lock, "t1") == ["acquired"]  # already ours
    refused = acquire(lock, "t2")
    assert refused[0] == "lock:refused=held" and "lock:holder:token=t1" in refused
    assert run("release", str(lock), "t2").stdout.strip() == "not held by this run"
    assert run("release", str(lock), "t1").stdout.strip() == "released"
    status = parse_status(run("status", str(lock)).stdout.splitlines())
    assert status.holder is None and status.last == "t1"


def test_script_refuses_after_another_run_released_since_the_survey(tmp_path: Path):
    lock = tmp_path / "run-lock"
    assert acquire(lock, "t1") == ["acquired"]
    run("release", str(lock), "t1")
    assert acquire(lock, "t2", last="")[0] == "lock:refused=moved"
    assert acquire(lock, "t2", last="t1") == ["acquired"]


def test_script_untouched_release_keeps_the_last_release(tmp_path: Path):
    lock = tmp_path / "run-lock"
    assert acquire(lock, "t1") == ["acquired"]
    assert run("release", str(lock), "t1", "untouched").stdout.strip() == "released"
    status = parse_status(run("status", str(lock)).stdout.splitlines())
    assert status.holder is None and status.last == ""


def test_script_breaks_only_the_stale_holder_it_was_told(tmp_path: Path):
    lock = tmp_path / "run-lock"
    assert acquire(lock, "dead") == ["acquired"]
    assert acquire(lock, "t2", breaking="other")[0] == "lock:refused=held"
    assert acquire(lock, "t2", breaking="dead") == ["acquired"]
    status = parse_status(run("status", str(lock)).stdout.splitlines())
    assert status.holder is not None and status.holder.token == "t2"


def test_script_lets_exactly_one_of_many_simultaneous_runs_in(tmp_path: Path):
    lock = tmp_path / "run-lock"
    results: dict[str, list[str]] = {}

    def attempt(token: str) -> None:
        results[token] = acquire(lock, token)

    threads = [threading.Thread(target=attempt, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [t for t, lines in results.items() if lines == ["acquired"]]
    assert len(winners) == 1, results
    assert all(lines[0] == "lock:refused=held" for t, lines in results.items() if t not in winners)


def test_script_fails_loudly_where_the_lock_cannot_be_written(tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = run("acquire", str(blocked / "run-lock"), "t1", "", "", "token=t1")
    assert result.returncode != 0 and "acquired" not in result.stdout
    assert acquire_refusal("etcd-0", result.stdout.splitlines(), result.stderr).startswith(
        "cannot take the cluster's run lock on etcd-0"
    )


@pytest.mark.parametrize("action", ["bogus"])
def test_script_refuses_an_unknown_action(tmp_path: Path, action: str):
    result = run(action, str(tmp_path / "run-lock"))
    assert result.returncode == 2 and "unknown action" in result.stderr


def test_a_holder_process_is_alive_here_only_with_its_own_start_time():
    me = os.getpid()
    start = _process_start(me)
    assert start
    assert _alive_here(Holder("t", "here", "u", me, start))
    assert not _alive_here(Holder("t", "here", "u", me, "1"))  # the pid was reused
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not _alive_here(Holder("t", "here", "u", gone.pid, ""))


def test_lock_settings_defaults_and_refusals(make_settings):
    defaults = make_settings()
    assert (defaults.lock_ttl, defaults.lock_break) == (3600, False)
    assert make_settings(etcd_lock_break="yes", etcd_lock_ttl="120").lock_break is True
    assert make_settings(etcd_lock_break=True).lock_break is True
    with pytest.raises(DeployInputError, match="etcd_lock_break='sure'"):
        make_settings(etcd_lock_break="sure")
    with pytest.raises(DeployInputError, match="etcd_lock_ttl=5"):
        make_settings(etcd_lock_ttl=5)


# --- taking it everywhere (run_lock_ops, remote calls replaced) ----------------------------


class _Host:
    def __init__(self, name: str) -> None:
        self.name = name


class _Inventory:
    def get_host(self, name: str) -> _Host:
        return _Host(name)


class _State:
    inventory = _Inventory()


def _taking(monkeypatch, refused: set[str]) -> list[tuple[str, str]]:
    """Replace the remote calls: each (action, host) in the order they ran; members in
    ``refused`` answer that another run holds their lock."""
    import gevent

    from etcd_cluster.engine import run_lock_ops

    calls: list[tuple[str, str]] = []

    def run_quietly(target: _Host, command: str) -> tuple[bool, str, str]:
        action = command.rsplit("' run_lock ", 1)[1].split()[0]  # after the script
        calls.append((action, target.name))
        gevent.sleep(0.01)  # a round trip: the others' attempts start meanwhile
        if action == "acquire" and target.name in refused:
            return True, "refused held\n", ""
        return True, "acquired\n" if action == "acquire" else "", ""

    monkeypatch.setattr(run_lock_ops, "run_quietly", run_quietly)
    return calls


def _lock():
    from etcd_cluster.engine.run_lock import LockPlan
    from etcd_cluster.engine.run_lock_ops import RunLock

    return RunLock(holder=holder("mine"), order=ORDER, plan=LockPlan())


def test_the_first_member_is_taken_alone_then_the_others_side_by_side(monkeypatch):
    from etcd_cluster.engine.run_lock_ops import _acquire_everywhere

    calls = _taking(monkeypatch, refused=set())
    lock = _lock()

    assert _acquire_everywhere(_State(), lock) == ""  # type: ignore[arg-type]

    assert calls == [("acquire", "etcd-0"), ("acquire", "etcd-1"), ("acquire", "etcd-2")]
    assert sorted(lock.held) == sorted(ORDER)


@pytest.mark.parametrize("refused", ["etcd-0", "etcd-2"])
def test_a_refusal_gives_back_every_part_taken(monkeypatch, refused: str):
    from etcd_cluster.engine.run_lock_ops import _acquire_everywhere

    calls = _taking(monkeypatch, refused={refused})
    lock = _lock()

    why = _acquire_everywhere(_State(), lock)  # type: ignore[arg-type]

    assert f"cannot take the cluster's run lock on {refused}" in why
    assert lock.held == []
    acquired = [h for action, h in calls if action == "acquire"]
    released = [h for action, h in calls if action == "release"]
    # refused on the first member: nothing else asked; else every part taken goes back
    assert acquired == (["etcd-0"] if refused == "etcd-0" else list(ORDER))
    assert sorted(released) == sorted(set(acquired) - {refused})
