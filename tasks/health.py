"""Step 8: wait until every member is healthy and all agree on one leader.

Bounded by ``etcd_health_timeout``. The first member prints the status table (name,
endpoint, health, leader, version, DB size, earliest certificate expiry); a member
that fails is named, with its last log lines.
"""

from pyinfra import host, state

from etcd_cluster.operations import cluster_healthy
from etcd_cluster.plan import get_plan
from etcd_cluster.runtime import runtime_commands

plan = get_plan(state)

cluster_healthy(
    name="etcd cluster healthy with one leader",
    logs_command=runtime_commands(plan.cluster).logs,
    print_table=host.name == plan.cluster.first.host,
)
