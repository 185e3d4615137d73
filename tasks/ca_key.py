"""The run's last step: ca.key leaves every host but the first member.

Only when the plan found a copy outside the first member (a new first member, the old
one retired or still a member). Called on every member and retired host after every
other step, so it runs last; the copies go only once the first member's ca.key is
verified against ca.crt in a run where the first member did not fail and the cluster
was healthy (``etcd_cluster/certs/ca_key_ops.py``).
"""

from pyinfra import state

from etcd_cluster.certs.ca_key_ops import release_ca_key
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)

    if plan.ca_key_strays:
        release_ca_key(
            name=f"ca.key leaves {', '.join(plan.ca_key_strays)} once {plan.cluster.first.host} "
            "holds a verified copy",
        )
