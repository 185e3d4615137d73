"""pyinfra operations this deploy needs and pyinfra does not have.

Each one yields a command only when something must change, so a converged cluster
reports zero changes; health checks run at execution time and report through the
operation's result, not through a change.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import gevent
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster import scripts
from etcd_cluster.backup.schedule import backup_warnings, latest_snapshots
from etcd_cluster.certs.certlist import ETCD_CA, expected_files
from etcd_cluster.engine.facts import FileModes, file_modes_command, parse_file_modes
from etcd_cluster.engine.managed import Directory, etcd_release
from etcd_cluster.engine.observe import (
    Observation,
    observe_command,
    parse_observation,
    with_certificate_files,
)
from etcd_cluster.engine.plan import (
    Plan,
    ca_files,
    etcd_hosts,
    get_plan,
    is_control_plane,
    target_version,
)
from etcd_cluster.engine.polling import on, poll, progress_while
from etcd_cluster.engine.pyinfra_compat import operation_results
from etcd_cluster.engine.quiet import change_reasons
from etcd_cluster.engine.remote import (
    RemoteFile,
    Wanted,
    read_files,
    read_secret,
    run_quietly,
    write_files_output,
)
from etcd_cluster.etcd import health as status
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.flags import etcd_command, guide_extra_args
from etcd_cluster.etcd.kubeadm_config import wanted_image
from etcd_cluster.etcd.quorum import ClusterView, gate, parse_view
from etcd_cluster.etcd.restarts import (
    PASSES,
    Decision,
    in_pass,
    static_pod_decision,
    systemd_decision,
)
from etcd_cluster.etcd.runtime import runtime_commands

PKI_ROLE = "member"
CONTROL_PLANE_ROLE = "control-plane"


def _files_for(
    role: str, plan: Plan, target: Host
) -> tuple[dict[str, Wanted], dict[str, RemoteFile]]:
    if role == PKI_ROLE:
        member = plan.for_host(target)
        return member.wanted, member.current
    wanted = plan.control_plane_files
    keys = {path for path, want in wanted.items() if want.public_key_sha256}
    return wanted, read_files(target, wanted, private_keys=keys)


def _pending(role: str, target: Host) -> tuple[dict[str, Wanted], dict[str, RemoteFile]]:
    wanted, current = _files_for(role, get_plan(target.state), target)
    return {p: w for p, w in wanted.items() if not w.satisfied_by(current.get(p))}, current


def _with_content(state: State, want: Wanted, current: RemoteFile | None) -> Wanted:
    """What to send: nothing of the content when the host holds it already (a mode or
    owner change is a chmod or chown, no rewrite that would make ca.crt look newer than
    etcd; a link is replaced by what it points to on the host); a key to copy (content
    None, another key on the host): read from the first member."""
    if want.same_content(current):
        return replace(want, content=None)
    if want.content is not None:
        return want
    plan = get_plan(state)
    first = state.inventory.get_host(plan.cluster.first.host)
    return replace(want, content=read_secret(first, want.source))


def _write_pending(
    state: State,
    host: Host,
    role: str,
    dirs: Sequence[Directory] = (),
    also: Mapping[str, Wanted] | None = None,
) -> bool:
    pending, current, sent = pki_to_send(state, host, role)
    files = {**sent, **(also or {})}
    # the directories as they should be, in the same command (the files' parents are
    # made 0755 as kubeadm makes them, then given their mode and owner)
    directives = [arg for d in dirs for arg in d.directives()]
    then = scripts.command("apply_state", *directives) if directives else ""
    checked: list[str] = []
    if role == PKI_ROLE:  # and what step 6 checks, read back in the same round trip
        expected, absent = expected_modes(get_plan(state), host)
        checked = [*expected, *absent]
        look = f"echo {MODES_SEEN} && {{ {file_modes_command(checked)}; }}"
        then = f"{then} && {look}" if then else look
    ok, stdout, error = write_files_output(host, files, then=then)
    if not ok:
        host.log_styled(error, fg="red", log_func=logger.error)
        return False
    get_plan(state).note_written(host.name, [*files, *(d.path for d in dirs)])
    lines = stdout.splitlines()
    if checked and MODES_SEEN in lines:
        seen = parse_file_modes(lines[lines.index(MODES_SEEN) + 1 :])
        get_plan(state).modes_seen[host.name] = (tuple(checked), seen)
    pki_written(state, host, role, pending, current, files)
    return True


class PkiWrite(NamedTuple):
    """``role``'s files to write on a host: what differs, what the host holds, what to send."""

    pending: dict[str, Wanted]
    current: dict[str, RemoteFile]
    sent: dict[str, Wanted]


def pki_to_send(state: State, host: Host, role: str = PKI_ROLE) -> PkiWrite:
    """What to write of ``role``'s files on ``host``, at execution."""
    pending, current = _pending(role, host)
    sent = {p: _with_content(state, w, current.get(p)) for p, w in pending.items()}
    return PkiWrite(pending, current, sent)


def pki_written(
    state: State,
    host: Host,
    role: str,
    pending: Mapping[str, Wanted],
    current: Mapping[str, RemoteFile],
    sent: Mapping[str, Wanted],
) -> None:
    """Once written: later operations of this run see the files as written; each is named."""
    done = {path: _what_was_done(sent[path], current.get(path)) for path in sent}
    if role == PKI_ROLE:
        member = get_plan(state).for_host(host)
        for path, want in pending.items():
            content = None if want.public_key_sha256 else want.content
            member.current[path] = RemoteFile(
                content, want.mode, want.user, want.group, want.public_key_sha256
            )
    for path in sorted(done):
        host.log_styled(f"{done[path]} {path}", log_func=logger.info)


MODES_GATE = "@@modes-gate@@"


def modes_gate(plan: Plan, host: Host) -> str:
    """Step 6 in another command, before what follows it there (etcd's first start): print
    the expected files' modes between two marks, then fail unless every one is exactly
    as the guide lists it and the paths that must be absent are (``gate_problems`` names
    what is wrong)."""
    expected, absent = expected_modes(plan, host)
    want = "\n".join(f"{path} {mode}" for path, mode in expected.items())  # as stat prints
    read = file_modes_command([*expected, *absent])
    return (
        f"echo {MODES_GATE} && seen=$({read}) && printf '%s\\n' \"$seen\" && echo {MODES_GATE}"
        f' && {{ [ "$seen" = {shlex.quote(want)} ] || '
        "{ echo 'the expected files are not as the guide lists them' >&2; false; }; }"
    )


def gate_problems(plan: Plan, host: Host, seen: Sequence[str]) -> list[str]:
    """What ``modes_gate`` found wrong, given the lines it printed between its marks."""
    expected, absent = expected_modes(plan, host)
    found = parse_file_modes([line for line in seen if line])
    return file_mode_problems(expected, absent, found)


def _what_was_done(sent: Wanted, found: RemoteFile | None) -> str:
    if sent.content is not None:
        return "wrote"
    return "replaced the link" if found is not None and found.link else "set mode and owner of"


@operation(is_idempotent=True)
def pki_files(
    role: str = PKI_ROLE,
    dirs: Sequence[Directory] = (),
    also: Mapping[str, Wanted] | None = None,
):
    """Install certificates and keys (content never leaves memory or reaches output).

    + role: ``member`` (the member's PKI files) or ``control-plane`` (the HA guide's copy
      of ca.crt and the apiserver-etcd-client pair)
    + dirs: directories put in place in the same command (their mode and owner)
    + also: other files written in the same command (``converge.carried``), when
      certificates or keys are
    """
    if role == CONTROL_PLANE_ROLE and not is_control_plane(host):
        host.noop("not a control-plane host")
        return
    pending, _ = _pending(role, host)
    if not pending:
        host.noop("certificates and keys are up to date")
        return
    yield FunctionCommand(_write_pending, (role, dirs, also), {})


def wait_for(
    target: Host,
    check: Callable[[list[status.MemberStatus]], list[str]],
    timeout: int,
    what: str = "",
) -> tuple[list[str], list[status.MemberStatus]]:
    """Probe the cluster from ``target`` until ``check`` finds no problem or time runs out."""
    return probe_until(target, get_plan(target.state).cluster, check, timeout, what)


def probe_until(
    target: Host,
    cluster: Cluster,
    check: Callable[[list[status.MemberStatus]], list[str]],
    timeout: int,
    what: str = "",
) -> tuple[list[str], list[status.MemberStatus]]:
    """``wait_for`` for a given cluster model (restore.py has no deploy plan); ``what``
    names the wait in its progress lines."""

    def probe() -> tuple[list[str], list[status.MemberStatus]]:
        _, stdout, _ = run_quietly(target, status.probe_script(cluster))
        statuses = status.parse_probe(cluster, stdout.splitlines())
        return check(statuses), statuses

    def done(found: tuple[list[str], list[status.MemberStatus]]) -> bool:
        return not found[0]

    return poll(probe, done, timeout, cluster.settings.health_interval, what, say=on(target))


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


def survey_health(plan: Plan) -> tuple[list[str], list[status.MemberStatus]]:
    """The problems and statuses the survey's probe found (both empty without a probe)."""
    if not plan.survey_probe:
        return [], []
    statuses = status.parse_probe(plan.cluster, plan.survey_probe)
    return status.problems(statuses), statuses


def start_health(state: State, plan: Plan) -> tuple[list[str], list[status.MemberStatus]]:
    """The problems and statuses the probe taken where etcd started found (step 7's
    command on one member, once its etcd had started), when that command started every
    member of this run and no operation after it changed anything (a restart, a join, a
    defragmentation); both empty otherwise."""
    if not plan.start_probe or set(plan.surveys) - set(plan.start_ops):
        return [], []
    for name, started in plan.start_ops.items():
        results = operation_results(state.inventory.get_host(name))
        later = [i for i, meta in enumerate(results) if meta is started]
        if not later or any(m.is_complete() and m.did_change() for m in results[later[0] + 1 :]):
            return [], []
    statuses = status.parse_probe(plan.cluster, plan.start_probe)
    return status.problems(statuses), statuses


def survey_healthy(plan: Plan) -> bool:
    """Whether the survey's probe found every member healthy with one leader."""
    found, statuses = survey_health(plan)
    return bool(statuses) and not found


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
    # When nothing changed on any host in this run (no file, no restart, no member), the
    # health the survey read a few seconds ago is the health now: read once per run.
    unchanged = not any(changed_this_run(h) for h in host.state.inventory)
    found, statuses = survey_health(plan) if unchanged else start_health(host.state, plan)
    if found or not statuses:
        found, statuses = wait_for(
            host, status.problems, settings.health_timeout, "the etcd cluster to report healthy"
        )
    if print_table:
        snapshots = latest_snapshots(plan.observations)
        # learners only exist while members join: ask etcd only after a membership change
        joined = plan.membership.changes
        learners = {m.name for m in cluster_view(host).members if m.is_learner} if joined else set()
        table = status.format_table(statuses, plan.expiries(), snapshots, learners)
        logger.info(f"--> etcd cluster status:\n{table}")
        for warning in backup_warnings(plan.cluster, plan.observations):
            logger.warning(f"--> etcd backups: {warning}")
    if found:
        me = plan.cluster.member(host.name)
        own = [s for s in statuses if s.member == me and not s.healthy]
        message = f"etcd cluster not healthy after {settings.health_timeout}s: " + "; ".join(found)
        yield FunctionCommand(_report, (message, logs_command if own else ""), {})
        return
    plan.cluster_healthy = True
    if print_table and plan.upgrading:
        _report_cluster_version(host, plan)
    host.noop("every member healthy, one leader")


def run_changes(state: State) -> list[str]:
    """Why this run may change something, from the survey (empty: nothing); logged once."""
    plan = get_plan(state)
    if plan.change_reasons is None:
        decisions = {
            name: decide_for(plan, name, observation)
            for name, observation in plan.observations.items()
        }
        plan.change_reasons = change_reasons(plan, decisions)
        if not plan.change_reasons:
            logger.info("--> etcd: every member as it should be: nothing to change, checks only")
    return plan.change_reasons


def changed_this_run(target: Host) -> bool:
    """Whether any operation already executed on ``target`` in this run changed something."""
    return changes_this_run(target) > 0


def changes_this_run(target: Host) -> int:
    """How many operations already executed on ``target`` in this run changed something."""
    return sum(meta.is_complete() and meta.did_change() for meta in operation_results(target))


def observe(target: Host) -> Observation:
    """What this member's etcd runs now (one remote command)."""
    plan = get_plan(target.state)
    _, stdout, _ = run_quietly(target, observe_command_for(plan, target.name))
    return parse_observed(plan, target.name, stdout.splitlines())


def observe_command_for(plan: Plan, host_name: str) -> str:
    """``observe_etcd`` for a member of the run, without openssl on its certificate files:
    the plan knows them (the survey read them, and this run's writes since are in its
    ``current``; the run lock keeps other writers out). That was two of the heaviest
    processes a first start's one command runs, 0.1 s on a busy host."""
    cluster = plan.cluster
    member = cluster.member(host_name)
    return observe_command(cluster, member, files_read=host_name in plan.members)


def parse_observed(plan: Plan, host_name: str, lines: Sequence[str]) -> Observation:
    """What ``observe_command_for``'s command printed, with the certificate files'
    fingerprints it left to the plan."""
    observation = parse_observation(lines)
    member = plan.members.get(host_name)
    if member is None:
        return observation
    return with_certificate_files(observation, member.current, plan.cluster.settings.pki_dir)


def observe_members(state: State, plan: Plan) -> None:
    """What each member's etcd runs now, for the restart passes: asked of all members at
    once (the passes then go host by host), and only of those on which this run changed
    something; for the others what the survey saw still holds."""
    members = [state.inventory.get_host(name) for name in plan.observations]
    pending = [h for h in members if h.name not in plan.executed_observations]
    jobs = {h.name: gevent.spawn(observe, h) for h in pending if changed_this_run(h)}
    gevent.joinall(list(jobs.values()), raise_error=True)
    for target in pending:
        job = jobs.get(target.name)
        plan.executed_observations[target.name] = (
            job.value if job is not None else plan.observations[target.name]
        )


def decide(target: Host, observation: Observation) -> Decision:
    """Whether and how this member must restart, from what it runs now."""
    return decide_for(get_plan(target.state), target.name, observation)


def decide_for(plan: Plan, host_name: str, observation: Observation) -> Decision:
    """``decide`` for a host named in ``plan``."""
    cluster = plan.cluster
    member = cluster.member(host_name)
    survey = plan.surveys[host_name]
    has_data = survey.has_data
    if cluster.settings.runtime == "systemd":
        binary, version = etcd_release(cluster.settings, survey)
        wanted = etcd_command(cluster, member, version, binary=binary)
        return systemd_decision(observation, wanted, has_data)
    items = plan.items.get(host_name)
    config = hashlib.sha256(items.kubeadm_config.content()).hexdigest() if items else ""
    return static_pod_decision(
        observation, guide_extra_args(cluster, member), wanted_image(cluster), has_data, config
    )


def gateway(
    target: Host, endpoint: str, path: str, body: dict, timeout: int = 10
) -> tuple[bool, dict]:
    """Call etcd's gRPC gateway at ``endpoint`` from ``target``: whether it worked, and
    its JSON answer (an ``error`` key when it did not)."""
    cluster = get_plan(target.state).cluster
    command = status.api_command(cluster, endpoint, path, body, timeout)
    ok, stdout, stderr = run_quietly(target, command)
    try:
        answer = json.loads(stdout) if stdout.strip() else {}
    except ValueError:
        answer = {"error": stdout.strip()}
    if not isinstance(answer, dict):
        answer = {"error": stdout.strip()}
    if not ok:
        answer.setdefault("error", stderr.strip() or "no answer")
    return ok and "error" not in answer, answer


def cluster_view(target: Host) -> ClusterView:
    """Health of every endpoint plus the live member list and alarms, seen from ``target``."""
    cluster = get_plan(target.state).cluster
    _, stdout, _ = run_quietly(target, status.probe_script(cluster, with_members=True))
    return parse_view(cluster, stdout.splitlines())


def await_gate(
    target: Host,
    action: str,
    adjust: Callable[[ClusterView], ClusterView] = lambda view: view,
) -> list[str]:
    """Wait, bounded by the health timeout, until the quorum gate lets ``target`` go down for
    ``action`` (e.g. "restarting"); what the gate still refuses when time runs out."""
    settings = get_plan(target.state).cluster.settings
    name = get_plan(target.state).cluster.member(target.name).name
    return poll(
        lambda: restart_gate(target, adjust),
        lambda found: not found,
        settings.health_timeout,
        settings.health_interval,
        f"the quorum gate to allow {action} {name}",
        say=on(target),
    )


def restart_gate(
    target: Host, adjust: Callable[[ClusterView], ClusterView] = lambda view: view
) -> list[str]:
    """Why ``target`` must not restart now (``quorum.gate``): asked from itself and, if
    that refuses, from each other member; its own host is looked at only then. ``adjust``:
    how a caller judges each view (a NOSPACE recovery tolerates the alarm it clears)."""
    plan = get_plan(target.state)
    others = [h for h in etcd_hosts(target.state) if h.name != target.name and h.connected]
    views = (
        (plan.cluster.member(viewer.name).name, adjust(cluster_view(viewer)))
        for viewer in (target, *others)
    )
    me = plan.cluster.member(target.name)
    return gate(plan.cluster, me, views, lambda: observe(target).shows_stopped)


def _report_cluster_version(target: Host, plan: Plan) -> None:
    """After an upgrade: wait (bounded) until the leader moved the cluster version to the
    new minor version (etcd checks every few seconds), then say what it is."""
    settings = plan.cluster.settings
    wanted = ".".join(target_version(plan.cluster).split(".")[:2])

    def cluster_version() -> str:
        _, stdout, _ = run_quietly(target, status.cluster_version_script(plan.cluster))
        return status.parse_cluster_version(stdout)

    version = poll(
        cluster_version,
        lambda found: found.startswith(f"{wanted}."),
        settings.health_timeout,
        settings.health_interval,
        f"the cluster version to reach {wanted}",
        say=on(target),
    )
    if version.startswith(f"{wanted}."):
        logger.info(f"--> etcd: upgrade done; the cluster version is now {version}")
    else:
        logger.warning(f"--> etcd: upgrade done, but the cluster version is {version or '?'}")


def _restart_member(state: State, host: Host, decision: Decision, logs_command: str) -> bool:
    """Restart this member only while the others keep quorum, then wait for health and
    check that it now runs what it should."""
    plan = get_plan(state)
    cluster = plan.cluster
    settings = cluster.settings
    me = cluster.member(host.name)
    refusals = await_gate(host, "restarting")
    if refusals:
        return _fail(host, f"not restarting {me.name}: " + "; ".join(refusals), "", 0)
    host.log_styled(
        f"restarting etcd member {me.name} ({decision.action}): {'; '.join(decision.reasons)}",
        log_func=logger.info,
    )
    command = runtime_commands(cluster).for_action(decision.action)
    with progress_while(f"{me.name} to restart ({decision.action})", say=on(host)):
        ok, stdout, stderr = run_quietly(host, command)
    if not ok:
        return _fail(
            host, f"restart of {me.name} failed: {stderr.strip()}", logs_command, settings.log_lines
        )
    # what the runtime's command says it did (a static pod: which container replaced
    # which, or that kubeadm rendered the same manifest and nothing restarted)
    done = (stdout.strip().splitlines() or ["restarted"])[-1]
    found, _ = wait_for(
        host, status.problems, settings.health_timeout, f"{me.name} to report healthy again"
    )
    if found:
        message = f"after restarting {me.name} the cluster is not healthy: " + "; ".join(found)
        return _fail(host, message, logs_command, settings.log_lines)
    after = decide(host, observe(host))
    if after.action:
        message = f"{me.name} restarted but still: {'; '.join(after.reasons)}"
        return _fail(host, message, logs_command, settings.log_lines)
    plan.restarted.add(host.name)
    host.log_styled(f"etcd member {me.name}: {done}; cluster healthy", log_func=logger.info)
    return True


@operation(is_idempotent=True)
def rolling_restart(pass_name: str, logs_command: str):
    """Restart this member if what it runs differs from what it should (call with
    ``_serial=True``, once per pass of ``restarts.PASSES``).

    Decided from what the member's etcd runs at execution time, so a change that an
    earlier, interrupted run left pending is completed now. Members already failing go
    first, then followers one at a time, the leader last; each restart is gated on the
    live member list keeping quorum and followed by a wait for cluster health.

    + pass_name: one of ``restarts.PASSES``
    + logs_command: shell command printing this member's recent etcd log
    """
    plan = get_plan(host.state)
    last_pass = pass_name == PASSES[-1]
    if not host.state.is_executing:
        # The plan: what the member ran before this run, against what it will run.
        decision = decide(host, plan.observations[host.name])
        running = plan.observations[host.name].running
        if running and not decision.action and plan.for_host(host).content_changed(ca_files(plan)):
            decision = Decision("restart", ("ca.crt is rewritten by this run",))
        if decision.action and last_pass:
            logger.info(f"--> etcd: {host.name}: will restart: {'; '.join(decision.reasons)}")
            yield FunctionCommand(_restart_member, (decision, logs_command), {})
        else:
            host.noop("decided when it runs")
        return
    if host.name in plan.restarted:
        host.noop("already restarted in this run")
        return
    if host.name not in plan.executed_observations:
        observe_members(host.state, plan)
    decision = decide(host, plan.executed_observations[host.name])
    if decision.action == "error":
        yield FunctionCommand(_report, ("; ".join(decision.reasons), ""), {})
        return
    if not decision.action:
        host.noop("etcd runs what it should")
        return
    if not last_pass:
        _, statuses = wait_for(host, lambda _: [], 0)
        mine = next((s for s in statuses if s.member.host == host.name), None)
        if not in_pass(pass_name, mine):
            host.noop("restarts in a later pass")
            return
    yield FunctionCommand(_restart_member, (decision, logs_command), {})


def file_mode_problems(
    expected: dict[str, str], absent: list[str], found: dict[str, str]
) -> list[str]:
    """What is wrong, given ``found`` (``{path: "mode user group"}`` of existing files)."""
    problems = [f"{path} is missing" for path in expected if path not in found]
    problems += [
        f"{path} is {found[path]}, expected {want}"
        for path, want in expected.items()
        if path in found and found[path] != want
    ]
    return problems + [f"{path} must not be on this host" for path in absent if path in found]


MODES_SEEN = "@@modes@@"


def expected_modes(plan: Plan, target: Host) -> tuple[dict[str, str], list[str]]:
    """The guide's expected files on ``target`` (``{path: "mode user group"}``: the
    certificate table and the kubeadm config) and the paths that must not be there."""
    settings = plan.cluster.settings
    is_first = target.name == plan.cluster.first.host
    files = expected_files(settings.pki_dir, is_first=is_first)
    expected = {f.path: f"{f.mode} root root" for f in files}
    expected[settings.kubeadm_config_path] = "644 root root"
    # another copy of ca.key goes only as the run's last step (tasks/ca_key.py)
    moving = target.name in plan.ca_key_strays
    absent = [] if is_first or moving else [ETCD_CA.key_path(settings.pki_dir)]
    return expected, absent


@operation(is_idempotent=True)
def expected_files_present(expected: dict[str, str], absent: list[str]):
    """Fail naming every expected file that is missing or has another mode or owner.

    Read on the host after distribution: by the write itself, in its round trip
    (``pki_files``), else now.

    + expected: ``{path: "mode user group"}``
    + absent: paths that must not exist on this host
    """
    if not host.state.is_executing:
        host.noop("checked after distribution")
        return
    paths = [*expected, *absent]
    seen = get_plan(host.state).modes_seen.pop(host.name, None)
    if seen is not None and list(seen[0]) == paths:
        found = seen[1]
    else:
        found = host.get_fact(FileModes, paths=paths)
    problems = file_mode_problems(expected, absent, found)
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
