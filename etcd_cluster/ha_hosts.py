"""Who is who in the HA control-plane guide: the ``lb``, ``control_plane`` and ``workers`` groups.

The etcd steps are wanted when the inventory has an ``etcd`` group, or when it has
none of the HA guide's own groups (so an etcd-only inventory, including an empty
``etcd`` group, behaves exactly as before and is refused as before).
"""

from __future__ import annotations

from pyinfra.api.exceptions import NoGroupError
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.errors import DeployInputError
from etcd_cluster.plan import CONTROL_PLANE_GROUP, etcd_hosts
from etcd_cluster.settings import is_ip

LB_GROUP = "lb"
WORKERS_GROUP = "workers"


def group_hosts(state: State, group: str) -> list[Host]:
    try:
        return list(state.inventory.get_group(group))
    except NoGroupError:  # pyinfra drops empty groups
        return []


def is_lb(host: Host) -> bool:
    return LB_GROUP in host.groups


def etcd_steps_wanted(state: State) -> bool:
    """The etcd guide's steps run unless the inventory is only about the HA guide's groups."""
    return bool(etcd_hosts(state)) or not group_hosts(state, LB_GROUP)


def host_address(host: Host) -> str:
    """The address other hosts reach ``host`` at: ``k8s_address``, ``etcd_address`` or its name."""
    for key in ("k8s_address", "etcd_address"):
        value = host.data.get(key)
        if value:
            if not isinstance(value, str) or not is_ip(value):
                raise DeployInputError(f"host {host.name}: {key}={value!r} is not an IP address")
            return value
    if is_ip(host.name):
        return host.name
    raise DeployInputError(
        f"host {host.name}: set k8s_address (its IP address; the inventory name is not one)"
    )


def control_plane_hosts(state: State) -> list[Host]:
    return group_hosts(state, CONTROL_PLANE_GROUP)
