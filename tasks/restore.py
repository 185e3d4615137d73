"""Restore: verify, copy, stop, move aside and restore, start, health gate.

Each phase is one operation called on every member, so it runs on all of them before
the next begins: no member starts before every member is restored, and all start
together (a restored cluster needs a quorum of its members to elect a leader). The
plan (and every refusal) comes first, while pyinfra prepares; see
``etcd_cluster/restore_run.py``.
"""

from pyinfra import host, state

from etcd_cluster.restore_run import (
    PHASES,
    get_restore_plan,
    restore_phase,
    restored_cluster_healthy,
)
from etcd_cluster.run_lock_ops import release_run_lock, take_run_lock


def run() -> None:
    get_restore_plan(state)  # the plan and every refusal, while pyinfra prepares

    # One run at a time: no deploy may start etcd under the restore (tasks/run_lock.py).
    take_run_lock(name="Take the cluster's run lock on every member (one run at a time)")
    for phase in host.loop(PHASES):
        restore_phase(name=f"Restore: {phase}", phase=phase)
    restored_cluster_healthy(name="Restored cluster healthy with one leader")
    release_run_lock(name="Give the cluster's run lock back")
