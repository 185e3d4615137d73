"""Snapshot first, as a gate: no upgrade restart and no membership change without a
verified snapshot taken in this run.

``snapshot_reasons`` says from the plan whether the run needs one; ``take_snapshot``
makes it on the executor member (``backup.snapshot_command``: ``snapshot save``, checked
with ``snapshot status``, mode 600) and records the outcome in the plan; ``snapshot_gate``
runs next on every member and retired host and fails each of them when there is no such
snapshot. pyinfra drops only the host whose operation failed, so without the gate the
other members would go on to remove, add and restart members.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine.plan import Plan, get_plan
from etcd_cluster.engine.polling import on, progress_while
from etcd_cluster.engine.remote import run_quietly


def snapshot_reasons(
    upgrading: Sequence[str], membership_changes: Sequence[str], ca_key_strays: Sequence[str]
) -> list[str]:
    """Why this run needs a snapshot first (empty: it does not): an upgrade, a membership
    change (add, remove, replace), or the CA key moving to a new first member."""
    reasons = []
    if upgrading:
        reasons.append(f"the upgrade of {', '.join(upgrading)}")
    reasons += membership_changes
    if ca_key_strays:
        reasons.append(f"the first member's move (ca.key on {', '.join(ca_key_strays)})")
    return reasons


def reasons_of(plan: Plan) -> list[str]:
    changes = [change.describe() for change in plan.membership.changes]
    return snapshot_reasons(plan.upgrading, changes, plan.ca_key_strays)


def _snapshot(state: State, host: Host, label: str) -> bool:  # pyinfra passes these by name
    plan = get_plan(state)
    command = backup.snapshot_command(plan.cluster, plan.cluster.member(host.name), label)
    with progress_while("the snapshot to be saved and verified", say=on(host)):
        ok, stdout, stderr = run_quietly(host, command)
    if not ok:
        plan.snapshot_error = f"{host.name}: {stderr.strip() or stdout.strip() or 'no output'}"
        host.log_styled(f"snapshot failed: {plan.snapshot_error}", fg="red", log_func=logger.error)
        return False
    plan.snapshot_taken = True
    host.log_styled(stdout.strip(), log_func=logger.info)
    return True


@operation(is_idempotent=False)
def take_snapshot(label: str):
    """Save and verify a snapshot on this member (the executor), for the gate.

    + label: ends the snapshot's name (before-upgrade, before-membership-change)
    """
    yield FunctionCommand(_snapshot, (label,), {})


def _refuse(state: State, host: Host, message: str) -> bool:
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


@operation(is_idempotent=True)
def snapshot_gate(executor: str):
    """Fail this host unless this run's snapshot was saved and verified.

    + executor: the member that takes the snapshot (named in the failure)
    """
    if not host.state.is_executing:
        host.noop("checked once the snapshot ran")
        return
    plan = get_plan(host.state)
    if plan.snapshot_taken:
        host.noop("this run's snapshot is saved and verified")
        return
    reason = plan.snapshot_error or f"{executor}: failed before the snapshot"
    message = (
        f"no verified snapshot from this run ({reason}): nothing in the cluster changes; "
        f"needed before {'; '.join(reasons_of(plan))}"
    )
    yield FunctionCommand(_refuse, (message,), {})
