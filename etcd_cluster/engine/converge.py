"""Put a member's managed items (``engine/managed.py``) in place: one operation per step, one
remote command per host, and none at all when the survey found everything in place.

pyinfra's own file and service operations ask the host for their facts and then run
each change as its own command (a ``stat``, a checksum, an upload, ``chown``, ``chmod``,
``systemctl`` twice...): some sixty round trips per member for a first deploy, fifteen
for a run that changes nothing. Here the run's survey says what is out of place, and
``install`` writes the files as one staged set (``install_files.sh``) and applies
directories, removals and units in the same command (``apply_state.sh``). When an
earlier operation of this run changed the host (other than this run's own writes of
other items: ``only_other_writes``), or a package is installed first, the host's state
is read again (one command) instead of trusting the survey. ``--diff`` shows each file's
change as pyinfra's ``files.template`` does.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State
from pyinfra.facts.files import FileContents

from etcd_cluster import scripts
from etcd_cluster.engine.host_state import HostState, host_state_command, parse_host_state
from etcd_cluster.engine.managed import (
    Changes,
    Item,
    Overrides,
    Service,
    TemplateFile,
    changes,
    drifted,
    overrides_asked,
)
from etcd_cluster.engine.operations import (
    MODES_GATE,
    PKI_ROLE,
    changes_this_run,
    gate_problems,
    modes_gate,
    observe_command_for,
    parse_observed,
    pki_to_send,
    pki_written,
)
from etcd_cluster.engine.plan import Plan, get_plan
from etcd_cluster.engine.remote import Wanted, run_quietly, write_files_output
from etcd_cluster.engine.text_diff import color_diff
from etcd_cluster.etcd.health import probe_script


def put(
    name: str,
    items: Sequence[Item | None],
    reload: bool = False,
    restart_when_written: Collection[str] = (),
    observe: bool = False,
    probe: bool = False,
    pki: bool = False,
) -> OperationMeta | None:
    """``install`` the items on this host, called only when the survey found something to
    do (or cannot tell): a converged member costs no operation. None when not called.
    ``observe``: once they are in place, what etcd runs is observed in the same round trip;
    ``probe``: and the cluster is probed from here (``Plan.start_probe``); ``pki``: the
    member's certificates and keys are written first, in the same command, and the
    guide's expected files checked before any unit starts (``Plan.one_upload``)."""
    wanted = [item for item in items if item is not None]
    plan = get_plan(host.state)
    surveyed = plan.host_states.get(host.name)
    if surveyed and plan.survey_holds(host.name) and not reload and not drifted(wanted, surveyed):
        return None
    return install(
        name=name,
        items=wanted,
        reload=reload,
        restart_when_written=restart_when_written,
        observe=observe,
        probe=probe,
        pki=pki,
    )


def carried(items: Sequence[Item], show: bool = True) -> dict[str, Wanted] | None:
    """The files that put ``items`` in place on this host, for another operation's
    command to write beside its own (one round trip fewer); None when that cannot be
    decided now (the survey no longer holds, or something other than files changes).
    With ``--diff`` and ``show`` their changes are shown here, as ``install`` shows its
    own."""
    plan = get_plan(host.state)
    surveyed = plan.host_states.get(host.name)
    if not surveyed or not plan.survey_holds(host.name):
        return None
    todo = changes(items, surveyed)
    if todo.directives:
        return None
    if todo.files and show and host.state.config.DIFF:
        _show_diff(host, todo, surveyed, secret=())
    return todo.files


def current_state(target: Host, items: Sequence[Item]) -> HostState:
    """The survey's reading while it holds: nothing changed the host this run but this
    run's own writes of other items; else the host's state read now (one command)."""
    plan = get_plan(target.state)
    surveyed = plan.host_states.get(target.name)
    if surveyed and plan.survey_holds(target.name) and only_other_writes(plan, target, items):
        return surveyed
    paths = [item.target for item in items if not isinstance(item, Service | Overrides)]
    units = [item.target for item in items if isinstance(item, Service)]
    overrides = overrides_asked(items)
    _, stdout, _ = run_quietly(target, host_state_command(paths, units, overrides=overrides))
    return parse_host_state(stdout.splitlines(), asked=[*paths, *units, *overrides])


def touched(items: Sequence[Item]) -> set[str]:
    """What putting ``items`` in place may change: paths, units, drop-ins, the manager's
    environment."""
    names: set[str] = set()
    for item in items:
        if isinstance(item, Overrides):
            names |= {f"drop-ins:{unit}" for unit in item.units}
            names |= {"manager-env"} if item.manager_env else set()
        else:
            names.add(item.target)
    return names


def only_other_writes(plan: Plan, target: Host, items: Sequence[Item]) -> bool:
    """Whether every change this run made on ``target`` so far was one of its own writes
    (``Plan.note_written``), none of them to ``items``: what the survey read of them holds.
    A daemon-reload does not change what the survey read of a unit (its state, whether
    enabled, its files)."""
    known = plan.known_changes.get(target.name, 0)
    if changes_this_run(target) != known:
        return False
    return not plan.written.get(target.name, set()) & touched(items)


@operation(is_idempotent=True)
def install(
    items: Sequence[Item],
    reload: bool,
    restart_when_written: Collection[str],
    observe: bool = False,
    probe: bool = False,
    pki: bool = False,
):
    """Files, directories, removals and units in place, in one command.

    + items: ``managed`` items, parents before children, units last
    + reload: reload systemd even if no unit file is written (it holds an older copy)
    + restart_when_written: units to restart when any file is written
    + observe: then observe what this member's etcd runs (``observe_etcd``), for the
      restart passes of this run (``plan.executed_observations``): no round trip of its own
    + probe: then probe the cluster from here (``plan.start_probe``, for step 8)
    + pki: the member's certificates and keys too, and step 6's check before any unit
      starts (``operations.modes_gate``)
    """
    state = current_state(host, items)
    todo = changes(items, state, reload, restart_when_written)
    if not todo:
        host.noop("in place")
        return
    _show_overrides(host, items, state, host.state.config.DIFF)
    if host.state.config.DIFF:
        secret = {i.dest for i in items if isinstance(i, TemplateFile) and i.secret}
        _show_diff(host, todo, state, secret)
    yield FunctionCommand(_apply, (todo, observe, tuple(touched(items)), probe, pki), {})


OBSERVED = "@@observed@@"
PROBED = "@@probed@@"


def _apply(
    state: State,
    host: Host,
    todo: Changes,
    observe: bool = False,
    targets: tuple[str, ...] = (),
    probe: bool = False,
    pki: bool = False,
) -> bool:
    # pyinfra passes state and host by name
    then = scripts.command("apply_state", *todo.directives) if todo.directives else ""
    plan = get_plan(state)
    cluster = plan.cluster
    files, written = todo.files, None
    if pki:  # steps 3 to 6 first, in the same command
        written = pki_to_send(state, host)
        files = {**written.sent, **files}
        gate = modes_gate(plan, host)
        then = f"{gate} && {then}" if then else gate
    if observe:
        then = and_observe(then, observe_command_for(plan, host.name))
    if probe:
        then = and_observe(then, probe_script(cluster), mark=PROBED)
    if files:
        ok, stdout, error = write_files_output(host, files, then=then)
    else:
        ok, stdout, stderr = run_quietly(host, then)
        error = f"{' '.join(todo.directives)} failed: {stderr.strip()}"
    if not ok:
        seen = observed_lines(stdout, mark=MODES_GATE) if pki else None
        problems = gate_problems(plan, host, seen) if seen is not None else []
        if problems:
            error = "expected files: " + "; ".join(problems)
        host.log_styled(error, fg="red", log_func=logger.error)
        return ok
    plan.note_written(host.name, [*targets, *files])
    if written is not None:
        pki_written(state, host, PKI_ROLE, *written)
    if observe:
        observed = observed_lines(stdout)
        if observed is not None:
            plan.executed_observations[host.name] = parse_observed(plan, host.name, observed)
    if probe:
        probed = observed_lines(stdout, mark=PROBED)
        if probed is not None:
            plan.start_probe = tuple(probed)
    return ok


def and_observe(then: str, look: str, mark: str = OBSERVED) -> str:
    """``then``, and once it succeeded ``look``'s output between two marks; a look that
    fails fails nothing (the restart passes and step 8 then look again on their own)."""
    seen = f"echo {mark} && {{ {look} && echo {mark} || true; }}"
    return f"{then} && {seen}" if then else seen


def observed_lines(stdout: str, mark: str = OBSERVED) -> list[str] | None:
    """The lines between two ``mark`` lines; None when the look did not run to its end."""
    lines = stdout.splitlines()
    marks = [i for i, line in enumerate(lines) if line == mark]
    return lines[marks[0] + 1 : marks[1]] if len(marks) == 2 else None


def _show_overrides(target: Host, items: Sequence[Item], state: HostState, diff: bool) -> None:
    """Each drop-in to move aside (with ``diff``: its lines, as removed) and each manager
    environment variable to unset, like any other drift."""
    for item in items:
        if not isinstance(item, Overrides):
            continue
        for verdict in item.verdicts(state):
            if verdict.kept:
                continue
            target.log(
                f"Will move aside {verdict.path} ({verdict.unit}: sets "
                f"{', '.join(verdict.changes)}): systemd ignores it from then on",
                logger.info,
            )
            if diff:
                old = state.dropins[verdict.path].decode(errors="replace")
                lines = [f"{line}\n" for line in old.splitlines()]
                for line in color_diff(lines, []):
                    logger.info("  %s", line)
        for name in item.to_unset(state):
            target.log(f"Will unset {name} in systemd's manager environment", logger.info)


def _show_diff(target: Host, todo: Changes, state: HostState, secret: Collection[str]) -> None:
    """As ``files.template`` shows it: each file to create or modify, with its diff (for a
    ``secret`` one, without: the operator's rclone configuration is never shown)."""
    for path, want in todo.files.items():
        if want.content is None:
            target.log(f"Will change {path} to mode {want.mode}, owner {want.user}", logger.info)
            continue
        exists = path in state.paths
        if path in secret:
            verb = "replace" if exists else "create"
            target.log(f"Will {verb} {path} (a secret: its content is not shown)", logger.info)
            continue
        old = target.get_fact(FileContents, path=path) if exists else None
        target.log(f"Will {'modify' if exists else 'create'} {path}", logger.info)
        desired = (want.content or b"").decode(errors="replace").splitlines(keepends=True)
        for line in color_diff([f"{line}\n" for line in old or []], desired):
            logger.info("  %s", line)
        logger.info("")
