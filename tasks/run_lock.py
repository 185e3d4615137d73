"""One run at a time: a run that changes the cluster takes its run lock first.

The survey read every member's lock while pyinfra prepared (another run holding it
refused this one then); the plan says whether this run changes anything at all
(``etcd_cluster/engine/quiet.py``): a run with nothing to change takes no lock and costs no
command. Otherwise this is the run's first operation, on every host: the lock is
taken on every member, first member first, and a refusal (another run got there
first) fails every host, naming the holder. ``tasks/run_unlock.py`` gives it back.
"""

from pyinfra import state

from etcd_cluster.engine.operations import run_changes
from etcd_cluster.engine.run_lock_ops import take_run_lock


def run() -> None:
    if run_changes(state):
        take_run_lock(name="Take the cluster's run lock on every member (one run at a time)")
