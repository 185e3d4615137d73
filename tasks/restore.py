"""Restore: verify, copy, stop, move aside and restore, start, health gate.

Each phase is one operation called on every member, so it runs on all of them before
the next begins: no member starts before every member is restored, and all start
together (a restored cluster needs a quorum of its members to elect a leader). The
plan (and every refusal) comes first, while pyinfra prepares; see
``etcd_cluster/backup/restore_ops.py``. On new hosts (no member holds etcd data: every old
member is gone) the deploy's own steps come first: packages, etcd, the PKI (the backup
archive's CA when it carries one), an empty cluster started; it is then restored over.
"""

from pyinfra import host, logger, state

from etcd_cluster.backup.restore_ops import (
    NEW_HOST_STEPS,
    PHASES,
    get_restore_plan,
    restore_phase,
    restored_cluster_healthy,
)
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.engine.run_lock_ops import release_run_lock, take_run_lock
from etcd_cluster.layout import step


def run() -> None:
    plan = get_restore_plan(state)  # before the deploy's plan: the archive's CA is its CA

    # One run at a time: no deploy may start etcd under the restore (tasks/run_lock.py).
    take_run_lock(name="Take the cluster's run lock on every member (one run at a time)")
    if plan.new_hosts:
        if host.name == plan.cluster.first.host and get_plan(state).ca_created:
            logger.warning(
                "--> etcd restore: no CA came with the snapshot: a NEW etcd CA is made; "
                "control-plane hosts need new client certificates (run deploy.py with the "
                "control_plane group)"
            )
        for name in NEW_HOST_STEPS:
            step(name).run()
    for phase in host.loop(PHASES):
        restore_phase(name=f"Restore: {phase}", phase=phase)
    restored_cluster_healthy(name="Restored cluster healthy with one leader")
    release_run_lock(name="Give the cluster's run lock back")
