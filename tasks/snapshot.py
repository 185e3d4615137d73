"""Before an upgrade or a membership change: a verified snapshot of the cluster.

When members run an older etcd than the chosen one (``etcd_version``, or the static
pod's ``etcd_image_tag``), or the membership changes, a member that had data saves a
snapshot into ``etcd_backup_dir``, verified with ``snapshot status``, mode 600. Then
the rolling restart (step 7) upgrades one member at a time, followers first and the
leader last, and the membership changes go one at a time.
"""

from pyinfra import host, state
from pyinfra.operations import server

from etcd_cluster import backup
from etcd_cluster.membership_ops import executor
from etcd_cluster.plan import get_plan

plan = get_plan(state)
cluster = plan.cluster
first = cluster.member(executor(plan))
why = "upgrade" if plan.upgrading else "membership-change"

if (plan.upgrading or plan.membership.changes) and host.name == first.host:
    server.shell(
        name=f"Save a verified snapshot before the {why.replace('-', ' ')}",
        commands=[backup.snapshot_command(cluster, first, f"before-{why}")],
    )
