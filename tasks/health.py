"""Step 8: wait until every member is healthy and all agree on one leader.

Bounded by ``etcd_health_timeout``. When the run changes nothing, the survey's probe (a
few seconds old) is the answer. The first member prints the status table (name,
endpoint, health, leader, version, DB size, earliest certificate expiry); a member
that fails is named, with its last log lines.
"""

from pyinfra import host, state

from etcd_cluster.engine.operations import cluster_healthy, run_changes, survey_healthy
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.etcd.runtime import runtime_commands


def run() -> None:
    plan = get_plan(state)

    first = host.name == plan.reporter
    # A run that changes nothing on a cluster the survey found healthy: the first member
    # (the first inside --limit) reports it (the table); no other has anything to wait for.
    if first or run_changes(state) or not survey_healthy(plan):
        cluster_healthy(
            name="etcd cluster healthy with one leader",
            logs_command=runtime_commands(plan.cluster).logs,
            print_table=first,
        )
