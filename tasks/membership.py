"""Membership from the inventory: removals first (joins happen in step 7, one at a time).

Members that etcd lists with a peer URL besides the wanted one get exactly the
wanted one (etcd's member update; nothing restarts).
The plan (logged while preparing, and shown by ``--dry``) removes live members named in
``etcd_remove_members`` through a member that had data, then retires the removed hosts
that are still reachable (inventory group ``etcd_removed``): etcd stopped and disabled,
data dir moved aside, private keys removed but ca.key, which stays until the run's last
step has verified the first member's copy (``tasks/ca_key.py``). Runs after this run's
verified snapshot (``tasks/snapshot.py``). Called on every host so that the order
holds across hosts (each operation acts only where it applies), and only when there is
something to remove or retire.
"""

from pyinfra import host, logger, state

from etcd_cluster.defaults import setting
from etcd_cluster.engine.plan import get_plan, retiring_hosts
from etcd_cluster.errors import DeployInputError
from etcd_cluster.membership.changes import REMOVE
from etcd_cluster.membership.ops import (
    is_retiring,
    member_key_paths,
    remove_members,
    retire,
    update_peer_urls,
)


def run() -> None:
    plan = get_plan(state)
    removed = {c.name for c in plan.membership.changes if c.kind == REMOVE}

    if is_retiring(host):
        name = setting(host, "etcd_name")
        if name in plan.live_names and name not in removed:
            raise DeployInputError(
                f"host {host.name} is in group etcd_removed but {name!r} is still a member: "
                "list it in etcd_remove_members to remove it"
            )

    if removed or retiring_hosts(state):  # else there is nothing to remove or retire
        remove_members(name="Remove members no longer in the inventory (etcd_remove_members)")
        retire(
            name="Retire a removed member: etcd stopped, data moved aside, keys but ca.key removed",
            data_dir=plan.cluster.settings.data_dir,
            key_paths=member_key_paths(plan),
            _if=[lambda: is_retiring(host), lambda: plan.removals_done],
        )

    if plan.membership.url_updates:  # an extra peer URL: the list is set whole, nobody restarts
        update_peer_urls(name="Each member's peer URLs exactly the wanted one (member update)")

    if plan.membership.changes and host.name == plan.cluster.first.host:
        logger.warning(
            "--> etcd: the member list changes: etcd-external.yaml lists the new endpoints; "
            "update the kube-apiservers' --etcd-servers to follow"
        )
