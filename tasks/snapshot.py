"""Before an upgrade or a membership change: a verified snapshot of the cluster, as a gate.

When members run an older etcd than the chosen one (``etcd_version``, or the static
pod's ``etcd_image_tag``), the membership changes or ca.key moves to a new first member,
a member that had data saves a snapshot into ``etcd_backup_dir``, verified with
``snapshot status``, mode 600. If it cannot be made, every member and retired host fails
here, naming the host and the reason: no member is removed, added or restarted. Then
removals (``tasks/membership.py``), and in step 7 joins and the rolling restart.
Called on members and retired hosts (``etcd_cluster/backup/snapshot_gate.py``).
"""

from pyinfra import host, state

from etcd_cluster.backup.snapshot_gate import reasons_of, snapshot_gate, take_snapshot
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.membership.ops import executor


def run() -> None:
    plan = get_plan(state)
    taker = executor(plan)
    why = "upgrade" if plan.upgrading else "membership-change"

    if reasons_of(plan):
        if host.name == taker:
            take_snapshot(
                name=f"Save a verified snapshot before the {why.replace('-', ' ')}",
                label=f"before-{why}",
            )
        snapshot_gate(
            name="A verified snapshot from this run exists (else nothing changes)",
            executor=taker,
        )
