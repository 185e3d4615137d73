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

plan = get_restore_plan(state)

for phase in host.loop(PHASES):
    restore_phase(name=f"Restore: {phase}", phase=phase)
restored_cluster_healthy(name="Restored cluster healthy with one leader")
