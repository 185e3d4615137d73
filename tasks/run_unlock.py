"""One run at a time: the run's last operation gives the run lock back on every member.

A host that failed earlier gave its part back when it failed (pyinfra runs no later
operation on it); see ``etcd_cluster/engine/run_lock_ops.py``.
"""

from pyinfra import state

from etcd_cluster.engine.operations import run_changes
from etcd_cluster.engine.run_lock_ops import release_run_lock


def run() -> None:
    if run_changes(state):
        release_run_lock(name="Give the cluster's run lock back")
