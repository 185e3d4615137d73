"""Who is who in the HA control-plane guide: the ``lb``, ``control_plane`` and ``workers`` groups.

The etcd steps are wanted when the inventory has an ``etcd`` group, or when it asks
for none of the HA guide's steps (no ``lb`` group, no control plane with an endpoint):
an etcd-only inventory, including an empty ``etcd`` group, behaves exactly as before.
"""

from __future__ import annotations

from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.defaults import getter, setting
from etcd_cluster.engine.plan import CONTROL_PLANE_GROUP, etcd_hosts, group_hosts
from etcd_cluster.errors import DeployInputError
from etcd_cluster.setting_checks import check_data
from etcd_cluster.settings import LoadBalancerSettings, is_ip, load_balancer_settings_from_data

LB_GROUP = "lb"
WORKERS_GROUP = "workers"


def is_lb(host: Host) -> bool:
    return LB_GROUP in host.groups


def etcd_steps_wanted(state: State) -> bool:
    """The etcd guide's steps run unless the inventory is only about the HA guide's groups."""
    return bool(etcd_hosts(state)) or not (
        group_hosts(state, LB_GROUP) or control_plane_wanted(state)
    )


def any_in_limit(state: State, hosts: list[Host]) -> bool:
    """Whether this run acts on any of ``hosts``: ``--limit`` names one (always without it)."""
    return any(state.is_host_in_limit(h) for h in hosts)


def host_address(host: Host) -> str:
    """The address other hosts reach ``host`` at: ``k8s_address``, ``etcd_address`` or its name."""
    for key in ("k8s_address", "etcd_address"):
        value = setting(host, key)
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


def lb_settings(state: State) -> LoadBalancerSettings | None:
    """The ``lb`` group's settings (from its first host), or None without an ``lb`` group."""
    lb_hosts = group_hosts(state, LB_GROUP)
    if not lb_hosts:
        return None
    check_data(state)
    addresses = tuple(host_address(h) for h in control_plane_hosts(state))
    return load_balancer_settings_from_data(getter(lb_hosts[0]), addresses)


def control_plane_wanted(state: State) -> bool:
    """The control-plane steps run with a ``control_plane`` group and an endpoint for it."""
    hosts = control_plane_hosts(state)
    return bool(hosts) and bool(
        group_hosts(state, LB_GROUP) or setting(hosts[0], "k8s_control_plane_endpoint")
    )
