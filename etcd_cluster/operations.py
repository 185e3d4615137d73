"""pyinfra operations this deploy needs and pyinfra does not have.

Each one yields a command only when something must change, so a converged cluster
reports zero changes; health checks run at execution time and report through the
operation's result, not through a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster import status
from etcd_cluster.facts import FileModes
from etcd_cluster.plan import Plan, get_plan, is_control_plane
from etcd_cluster.remote import RemoteFile, Wanted, read_files, run_quietly, write_files

PKI_ROLE = "member"
CONTROL_PLANE_ROLE = "control-plane"


def _files_for(
    role: str, plan: Plan, target: Host
) -> tuple[dict[str, Wanted], dict[str, RemoteFile]]:
    if role == PKI_ROLE:
        member = plan.for_host(target)
        return member.wanted, member.current
    wanted = plan.control_plane_files
    return wanted, read_files(target, wanted)


def _pending(role: str, target: Host) -> dict[str, Wanted]:
    wanted, current = _files_for(role, get_plan(target.state), target)
    return {p: w for p, w in wanted.items() if not w.satisfied_by(current.get(p))}


def _write_pending(state: State, host: Host, role: str) -> bool:
    pending = _pending(role, host)
    ok, error = write_files(host, pending)
    if not ok:
        host.log_styled(error, fg="red", log_func=logger.error)
        return False
    if role == PKI_ROLE:  # later operations of this run see the files as written
        member = get_plan(state).for_host(host)
        for path, want in pending.items():
            member.current[path] = RemoteFile(want.content, want.mode, want.user, want.group)
    for path in sorted(pending):
        host.log_styled(f"wrote {path}", log_func=logger.info)
    return True


@operation(is_idempotent=True)
def pki_files(role: str = PKI_ROLE):
    """Install certificates and keys (content never leaves memory or reaches output).

    + role: ``member`` (the member's PKI files) or ``control-plane`` (the HA guide's copy
      of ca.crt and the apiserver-etcd-client pair)
    """
    if role == CONTROL_PLANE_ROLE and not is_control_plane(host):
        host.noop("not a control-plane host")
        return
    pending = _pending(role, host)
    if not pending:
        host.noop("certificates and keys are up to date")
        return
    yield FunctionCommand(_write_pending, (role,), {})


def wait_for(
    target: Host,
    check: Callable[[list[status.MemberStatus]], list[str]],
    timeout: int,
) -> tuple[list[str], list[status.MemberStatus]]:
    """Probe the cluster from ``target`` until ``check`` finds no problem or time runs out."""
    plan = get_plan(target.state)
    cluster = plan.cluster
    deadline = time.monotonic() + timeout
    while True:
        _, stdout, _ = run_quietly(target, status.probe_script(cluster))
        statuses = status.parse_probe(cluster, stdout.splitlines())
        found = check(statuses)
        if not found or time.monotonic() >= deadline:
            return found, statuses
        time.sleep(cluster.settings.health_interval)


def _fail(target: Host, message: str, logs_command: str, log_lines: int) -> bool:
    """Log why, with this member's last log lines, and fail the operation."""
    target.log_styled(message, fg="red", log_func=logger.error)
    if log_lines and logs_command:
        _, stdout, stderr = run_quietly(target, logs_command)
        lines = (stdout or stderr).splitlines()[-log_lines:]
        target.log_styled(
            "last log lines of etcd here:\n    " + "\n    ".join(lines or ["(none)"]),
            log_func=logger.error,
        )
    return False


def _report(state: State, host: Host, message: str, logs_command: str) -> bool:
    return _fail(host, message, logs_command, get_plan(state).cluster.settings.log_lines)


@operation(is_idempotent=True)
def cluster_healthy(logs_command: str, print_table: bool):
    """Wait (bounded) until every member is healthy and all agree on one leader.

    + logs_command: shell command printing this member's recent etcd log
    + print_table: print the status table (on one host only)
    """
    if not host.state.is_executing:
        host.noop("checked once etcd runs")
        return
    plan = get_plan(host.state)
    settings = plan.cluster.settings
    found, statuses = wait_for(host, status.problems, settings.health_timeout)
    if print_table:
        table = status.format_table(statuses, plan.expiries())
        logger.info(f"--> etcd cluster status:\n{table}")
    if found:
        me = plan.cluster.member(host.name)
        own = [s for s in statuses if s.member == me and not s.healthy]
        message = f"etcd cluster not healthy after {settings.health_timeout}s: " + "; ".join(found)
        yield FunctionCommand(_report, (message, logs_command if own else ""), {})
        return
    plan.cluster_healthy = True
    host.noop("every member healthy, one leader")


def _restart_member(state: State, host: Host, restart_command: str, logs_command: str) -> bool:
    """Restart this member only while the others keep quorum, then wait for health."""
    plan = get_plan(state)
    cluster = plan.cluster
    settings = cluster.settings
    me = cluster.member(host.name)

    def others_keep_quorum(statuses: list[status.MemberStatus]) -> list[str]:
        mine = next(s for s in statuses if s.member == me)
        healthy_others = sum(1 for s in statuses if s.healthy and s.member != me)
        if len(statuses) == 1 or not mine.healthy or healthy_others >= cluster.quorum:
            return []
        return [
            f"only {healthy_others} other member(s) healthy, {cluster.quorum} needed to keep "
            f"quorum while {me.name} restarts"
        ]

    found, _ = wait_for(host, others_keep_quorum, settings.health_timeout)
    if found:
        return _fail(host, f"not restarting {me.name}: " + "; ".join(found), "", 0)
    host.log_styled(f"restarting etcd member {me.name}", log_func=logger.info)
    ok, _, stderr = run_quietly(host, restart_command)
    if not ok:
        return _fail(
            host, f"restart of {me.name} failed: {stderr.strip()}", logs_command, settings.log_lines
        )
    found, _ = wait_for(host, status.problems, settings.health_timeout)
    if found:
        message = f"after restarting {me.name} the cluster is not healthy: " + "; ".join(found)
        return _fail(host, message, logs_command, settings.log_lines)
    plan.restarted.add(host.name)
    host.log_styled(f"etcd member {me.name} restarted; cluster healthy", log_func=logger.info)
    return True


@operation(is_idempotent=True)
def rolling_restart(restart_command: str, logs_command: str, unhealthy_first: bool):
    """Restart this member, gated on cluster health (call with ``_serial=True``).

    Two passes keep quorum: members whose own endpoint already fails go first
    (restarting them costs nothing), then the healthy ones one at a time.

    + restart_command: shell command that restarts etcd on this member
    + logs_command: shell command printing this member's recent etcd log
    + unhealthy_first: this is the first pass (only members that are unhealthy now)
    """
    if host.state.is_executing:
        plan = get_plan(host.state)
        if host.name in plan.restarted:
            host.noop("already restarted in this run")
            return
        if unhealthy_first:
            _, statuses = wait_for(host, lambda _: [], 0)
            me = plan.cluster.member(host.name)
            if any(s.member == me and s.healthy for s in statuses):
                host.noop("healthy now: restarted in the second pass")
                return
    yield FunctionCommand(_restart_member, (restart_command, logs_command), {})


@operation(is_idempotent=True)
def expected_files_present(expected: dict[str, str], absent: list[str]):
    """Fail naming every expected file that is missing or has another mode or owner.

    + expected: ``{path: "mode user group"}``
    + absent: paths that must not exist on this host
    """
    if not host.state.is_executing:
        host.noop("checked after distribution")
        return
    found = host.get_fact(FileModes, paths=[*expected, *absent])
    problems = [f"{path} is missing" for path in expected if path not in found]
    problems += [
        f"{path} is {found[path]}, expected {want}"
        for path, want in expected.items()
        if path in found and found[path] != want
    ]
    problems += [f"{path} must not be on this host" for path in absent if path in found]
    if problems:
        yield FunctionCommand(_report, ("expected files: " + "; ".join(problems), ""), {})
        return
    host.noop(f"all {len(expected)} expected files in place")


def _write_local(path: str, content: str) -> None:
    Path(path).write_text(content)


@operation(is_idempotent=True)
def controller_file(path: str, content: str):
    """Write a (non-secret) file on the machine running pyinfra when its content differs.

    + path: the file on the controller
    + content: its text
    """
    target = Path(path)
    if target.is_file() and target.read_text() == content:
        host.noop(f"{path} is up to date")
        return
    yield FunctionCommand(_write_local, (path, content), {})
