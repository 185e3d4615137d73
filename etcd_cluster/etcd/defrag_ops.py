"""Defragmentation and NOSPACE recovery, carried out (the decisions: ``etcd/defrag.py``).

Called only when the survey's probe asked for it (``Plan.maintenance``), so a
converged cluster costs nothing more. Each member is judged again when its turn
comes, from a probe made then: a member defragmented by an earlier, interrupted run
is left alone, and a recovery whose alarm is gone stops. Everything goes through
etcd's gRPC gateway with the healthcheck client's certificate, from the member
itself (as the health probe does): compaction, moving leadership, defragmentation,
disarming the alarm, the write check.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.engine.operations import await_gate, cluster_view, gateway, wait_for
from etcd_cluster.engine.plan import Plan, get_plan
from etcd_cluster.engine.polling import on, progress_while
from etcd_cluster.errors import fail
from etcd_cluster.etcd import health as status
from etcd_cluster.etcd.defrag import (
    NOSPACE,
    alone,
    defrag_due,
    in_pass,
    new_leader,
    nospace_active,
    tolerate_nospace,
    tolerate_statuses,
)
from etcd_cluster.etcd.quorum import ClusterView

PASSES = ("followers", "leader")
WRITE_CHECK_KEY = "/etcd-deploy/nospace-write-check"


def _endpoint(plan: Plan, target: Host) -> str:
    return plan.cluster.member(target.name).client_url(plan.cluster.settings.client_port)


def _judged(plan: Plan, view: ClusterView) -> ClusterView:
    """The view as this run judges it: a recovery tolerates the alarm it clears."""
    return tolerate_nospace(view) if plan.maintenance.nospace else view


def _problems(plan: Plan) -> Callable[[Sequence[status.MemberStatus]], list[str]]:
    """The health check of this run's waits (``status.problems``, NOSPACE tolerated
    during a recovery: /health fails on every member until the alarm is disarmed)."""

    def check(statuses: Sequence[status.MemberStatus]) -> list[str]:
        if plan.maintenance.nospace:
            statuses = tolerate_statuses(statuses)
        return status.problems(statuses)

    return check


def _mine(view: ClusterView, target: Host) -> status.MemberStatus | None:
    return next((s for s in view.statuses if s.member.host == target.name), None)


@operation(is_idempotent=True)
def nospace_compact():
    """NOSPACE recovery, first step (first member): compact to the current revision, so
    that a defragmentation gives the history's space back. Keys keep their values."""
    plan = get_plan(host.state)
    if host.name != plan.cluster.first.host or not plan.maintenance.nospace:
        host.noop("the first member compacts")
        return
    if host.state.is_executing and not nospace_active(cluster_view(host)):
        host.noop("no NOSPACE alarm any more")
        return
    yield FunctionCommand(_compact, (), {})


def _compact(state: State, host: Host) -> bool:
    plan = get_plan(state)
    _, statuses = wait_for(host, lambda _: [], 0)
    revision = max((s.revision for s in statuses if s.revision is not None), default=None)
    if revision is None:
        return fail(host, "NOSPACE recovery: no member told its revision: not compacting")
    ok, answer = gateway(
        host,
        _endpoint(plan, host),
        "/v3/kv/compaction",
        {"revision": str(revision), "physical": True},
        plan.cluster.settings.health_timeout,
    )
    if not ok and "compacted" not in str(answer.get("error")):  # done by an earlier run
        return fail(host, f"NOSPACE recovery: compaction to {revision} failed: {answer}")
    host.log_styled(f"NOSPACE recovery: compacted to revision {revision}", log_func=logger.info)
    return True


@operation(is_idempotent=True)
def defragment(pass_name: str):
    """Defragment this member when the rule (or a NOSPACE recovery) asks for it (call
    with ``_serial=True``, once per pass of ``PASSES``): followers first, the leader
    last, its leadership moved to a healthy follower first; each behind the restart
    gate (a defragmentation blocks its member) and followed by a wait for health.

    + pass_name: one of ``PASSES``
    """
    plan = get_plan(host.state)
    wanted = plan.maintenance.nospace or host.name in plan.maintenance.due
    if not host.state.is_executing:
        if wanted and pass_name == PASSES[-1]:
            yield FunctionCommand(_defragment_member, (), {})
        else:
            host.noop("decided when it runs")
        return
    if host.name in plan.defragmented or not wanted:
        host.noop("nothing to defragment")
        return
    view = cluster_view(host)
    mine = _mine(view, host)
    if plan.maintenance.nospace:
        due = nospace_active(view)  # every member, until the alarm is disarmed
    else:
        due = mine is not None and defrag_due(mine, plan.cluster.settings)
    if not due:
        host.noop("defragmentation no longer due")
        return
    if pass_name != PASSES[-1] and not in_pass(pass_name, mine):
        host.noop("the leader is defragmented last")
        return
    yield FunctionCommand(_defragment_member, (), {})


def _move_leadership(plan: Plan, target: Host, view: ClusterView) -> bool:
    """Before the leader's defragmentation: make a healthy follower the leader."""
    me = plan.cluster.member(target.name)
    mine = _mine(view, target)
    if mine is None or not mine.is_leader:
        return True
    heir = new_leader(view, mine)
    names = {s.member_id: s.member.name for s in view.statuses}
    if not heir:
        target.log_styled(
            f"no healthy follower to take over from {me.name}", log_func=logger.warning
        )
        return True
    ok, answer = gateway(
        target, _endpoint(plan, target), "/v3/maintenance/transfer-leadership", {"targetID": heir}
    )
    if not ok:
        return fail(target, f"moving leadership from {me.name} failed: {answer}")
    check = _problems(plan)

    def moved(statuses: Sequence[status.MemberStatus]) -> list[str]:
        still = [s for s in statuses if s.member == me and s.is_leader]
        return check(statuses) + [f"{me.name} still leads" for _ in still]

    found, _ = wait_for(
        target, moved, plan.cluster.settings.health_timeout, f"leadership to leave {me.name}"
    )
    if found:
        return fail(target, f"leadership did not leave {me.name}: {'; '.join(found)}")
    target.log_styled(
        f"moved leadership from {me.name} to {names.get(heir, heir)}", log_func=logger.info
    )
    return True


def _defragment_member(state: State, host: Host) -> bool:
    plan = get_plan(state)
    settings = plan.cluster.settings
    me = plan.cluster.member(host.name)
    view = _judged(plan, cluster_view(host))
    if not alone(view):  # the only voter has no quorum to keep: no gate
        refusals = await_gate(host, "defragmenting", lambda view: _judged(plan, view))
        if refusals:
            return fail(host, f"not defragmenting {me.name}: " + "; ".join(refusals))
        view = _judged(plan, cluster_view(host))
    if not alone(view) and not _move_leadership(plan, host, view):
        return False
    before = _mine(view, host)
    host.log_styled(f"defragmenting etcd member {me.name}", log_func=logger.info)
    started = time.monotonic()
    with progress_while(f"{me.name} to defragment", say=on(host)):
        ok, answer = gateway(
            host,
            _endpoint(plan, host),
            "/v3/maintenance/defragment",
            {},
            settings.health_timeout,
        )
    if not ok:
        return fail(host, f"defragmentation of {me.name} failed: {answer}")
    found, statuses = wait_for(
        host,
        _problems(plan),
        settings.health_timeout,
        f"{me.name} to report healthy after its defragmentation",
    )
    if found:
        return fail(host, f"after defragmenting {me.name}: " + "; ".join(found))
    after = next((s for s in statuses if s.member == me), None)
    sizes = (
        f"{status.size_text(before.db_size if before else None)} -> "
        f"{status.size_text(after.db_size if after else None)}"
    )
    plan.defragmented.add(host.name)
    host.log_styled(
        f"etcd member {me.name} defragmented: {sizes} in {time.monotonic() - started:.1f} s; "
        "cluster healthy",
        log_func=logger.info,
    )
    return True


@operation(is_idempotent=True)
def nospace_disarm():
    """NOSPACE recovery, last step (first member): disarm the alarm once every member is
    defragmented, then check that a write works again (written and deleted)."""
    plan = get_plan(host.state)
    if host.name != plan.cluster.first.host or not plan.maintenance.nospace:
        host.noop("the first member disarms")
        return
    yield FunctionCommand(_disarm, (), {})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _disarm(state: State, host: Host) -> bool:
    plan = get_plan(state)
    endpoint = _endpoint(plan, host)
    view = cluster_view(host)
    for member_id, alarm in view.alarms:
        if alarm != NOSPACE:
            continue
        body = {"action": "DEACTIVATE", "memberID": member_id, "alarm": NOSPACE}
        ok, answer = gateway(host, endpoint, "/v3/maintenance/alarm", body)
        if not ok:
            return fail(host, f"NOSPACE recovery: disarming the alarm failed: {answer}")
    key = _b64(WRITE_CHECK_KEY)
    ok, answer = gateway(host, endpoint, "/v3/kv/put", {"key": key, "value": _b64("ok")})
    if not ok:
        return fail(
            host,
            f"NOSPACE recovery: a write still fails ({answer.get('error')}): the data itself "
            "fills the quota; raise quota-backend-bytes in etcd_extra_args and run again",
        )
    gateway(host, endpoint, "/v3/kv/deleterange", {"key": key})
    host.log_styled("NOSPACE recovery: alarm disarmed; writes work again", log_func=logger.info)
    return True
