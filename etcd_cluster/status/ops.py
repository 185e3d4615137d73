"""status.py's pyinfra glue: survey every member once, print the report, write its JSON,
and fail the run when the report finds a problem (so a timer or a monitor sees it).

Read only, at any time: no run lock (a status may be asked while a deploy runs), none of
the deploy's data-safety refusals (they guard changes; a status makes none) and no
operation that changes a host. Each member costs one remote command, the deploy's own
survey (``member_survey.read_member``); the first reachable member's also probes the
cluster (health and status of every endpoint, the live member list, the alarms). Only
when that survey gets no answer does the next member probe, in a second command.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.engine.plan import cluster_of, etcd_hosts, once_per_run
from etcd_cluster.engine.remote import run_quietly
from etcd_cluster.engine.survey import read_member
from etcd_cluster.etcd.health import probe_script
from etcd_cluster.etcd.quorum import parse_view
from etcd_cluster.status import report as cluster_report
from etcd_cluster.status.report import MemberFacts


@dataclass
class StatusRun:
    report: dict[str, Any]  # cluster_report.report
    prober: str  # the host whose survey probed the cluster: it carries the verdict


_runs: dict[int, StatusRun] = {}


def get_status(state: State) -> StatusRun:
    """The report for this run (surveyed, printed and written once, while pyinfra prepares)."""
    return once_per_run(_runs, state, _build)


def _build(state: State) -> StatusRun:
    cluster = cluster_of(state)  # bad input is still refused, naming the value and host
    hosts = {h.name: h for h in etcd_hosts(state)}
    reachable = [m.host for m in cluster.members if hosts[m.host].connected]
    prober = reachable[0] if reachable else cluster.first.host
    jobs = {
        name: gevent.spawn(read_member, hosts[name], cluster, name == prober) for name in reachable
    }
    gevent.joinall(list(jobs.values()))
    facts = {m.host: _facts(m.host, jobs.get(m.host)) for m in cluster.members}
    probe = jobs[prober].value.probe if facts.get(prober) else ()
    if not probe:  # the prober's survey failed: ask the next member that answered (once)
        prober = next((name for name in reachable if facts[name]), prober)
        if facts.get(prober):
            _, stdout, _ = run_quietly(hosts[prober], probe_script(cluster, with_members=True))
            probe = tuple(stdout.splitlines())
    now = datetime.datetime.now(datetime.UTC)
    result = cluster_report.report(cluster, parse_view(cluster, probe), facts, now)
    logger.info(f"--> etcd cluster status:\n{cluster_report.table(result)}")
    for run in result["runs_in_progress"]:
        logger.info(f"--> etcd status: a run is going on: {run}")
    for problem in result["problems"]:
        logger.warning(f"--> etcd status: {problem}")
    path = cluster.settings.status_json
    if path:
        write_json(Path(path), result)
        logger.info(f"--> etcd: status written to {path}")
    return StatusRun(result, prober)


def _facts(name: str, job: gevent.Greenlet | None) -> MemberFacts | None:
    """What one member's survey said; None (and a warning why) when it said nothing."""
    if job is None or not job.successful():
        why = job.exception if job is not None else "not connected (or left out by --limit)"
    elif job.value.observation.clock is None:  # every survey tells the host's clock
        why = "the survey command gave no answer"
    else:
        r = job.value
        # the run alone: its start time is each member's own clock, one line per run
        holder = r.lock.holder.identity() if r.lock.holder else ""
        return MemberFacts(r.files, r.observation, holder)
    logger.warning(f"--> etcd status: {name}: could not be surveyed: {why}")
    return None


def write_json(path: Path, result: dict[str, Any]) -> None:
    """Write the report whole or not at all: a monitor never reads half a file."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_text(json.dumps(result, indent=2) + "\n")
    staged.replace(path)


def _fail(state: State, host: Host, message: str) -> bool:
    """Fail the operation (pyinfra wants the parameters named ``state`` and ``host``)."""
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


@operation(is_idempotent=True)
def cluster_status():
    """Fail on the member that probed when the report found a problem (pyinfra exits 1);
    change nothing anywhere."""
    run = get_status(host.state)
    if host.name != run.prober or not host.state.is_executing:
        host.noop("status only: nothing to change")
        return
    found = run.report["problems"]
    if found:
        yield FunctionCommand(_fail, ("etcd status: " + "; ".join(found),), {})
        return
    host.noop(f"every member healthy, leader {run.report['leader']}, nothing due")
