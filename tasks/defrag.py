"""Day two: defragment members by rule; recover from a NOSPACE alarm when asked.

Only when the survey's probe asked for it (``etcd_cluster/etcd/defrag.py``): a member whose
DB is mostly free space, or an active NOSPACE alarm with ``etcd_nospace_recover=yes``
(without it the run refused before any host changed). One member at a time behind
the restart gate, followers first, the leader last with its leadership moved away
first; a recovery compacts first and disarms the alarm last, then checks a write.
"""

from pyinfra import host, state

from etcd_cluster.engine.plan import get_plan
from etcd_cluster.etcd.defrag_ops import PASSES, defragment, nospace_compact, nospace_disarm


def run() -> None:
    plan = get_plan(state)

    if plan.maintenance.nospace:
        nospace_compact(name="NOSPACE recovery: compact to the current revision")
    if plan.maintenance.wanted:
        for pass_name in host.loop(PASSES):
            defragment(
                name=f"Defragment etcd where the rule says so ({pass_name} pass)",
                pass_name=pass_name,
                _serial=True,
            )
    if plan.maintenance.nospace:
        nospace_disarm(name="NOSPACE recovery: disarm the alarm, check that a write works")
