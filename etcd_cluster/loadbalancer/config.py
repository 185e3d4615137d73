"""The apiserver load balancer (HA guide): what haproxy and keepalived are told, as data.

kubeadm's "High Availability considerations" describe haproxy in TCP mode with an
HTTPS ``GET /healthz`` check of each apiserver, behind a keepalived VRRP address.
These functions compute the template contexts and the refusals; the task file
``tasks/load_balancer.py`` only renders and installs.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from etcd_cluster.engine.templates import render
from etcd_cluster.settings import LoadBalancerSettings, is_ip, split_host_port

HAPROXY_CONFIG_TEMPLATE = "templates/etc/haproxy/haproxy.cfg.j2"
KEEPALIVED_CONFIG_TEMPLATE = "templates/etc/keepalived/keepalived.conf.j2"
CHECK_SCRIPT_TEMPLATE = "templates/etc/keepalived/check_haproxy.sh.j2"
HAPROXY_CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONFIG_PATH = "/etc/keepalived/keepalived.conf"
CHECK_SCRIPT_PATH = "/etc/keepalived/check_haproxy.sh"
HAPROXY_CHECK = "haproxy -c -f {path}"
KEEPALIVED_CHECK = "keepalived --config-test -f {path}"
CHECK_INTERVAL = "2s"  # a failing apiserver is out after two failed checks (~4 s)
TOP_PRIORITY = 150  # the first lb host; each later one is one lower


@dataclass(frozen=True)
class LbHost:
    """A host of the ``lb`` group: its pyinfra name and its address."""

    host: str
    address: str


def haproxy_context(s: LoadBalancerSettings) -> dict[str, Any]:
    """One frontend on the LB port, one backend server per apiserver."""
    servers = []
    for index, backend in enumerate(s.backends):
        split_host_port("k8s_apiserver_backends", backend)
        servers.append({"name": f"apiserver{index}", "endpoint": backend})
    v6 = ipaddress.ip_address(s.vip).version == 6
    return {
        "bind_address": ":::" if v6 else "*",
        "lb_port": s.lb_port,
        "check_interval": CHECK_INTERVAL,
        "servers": servers,
    }


def check_script_context(s: LoadBalancerSettings) -> dict[str, Any]:
    v6 = ipaddress.ip_address(s.vip).version == 6
    return {"address": "::1" if v6 else "127.0.0.1", "port": s.lb_port}


def keepalived_context(
    s: LoadBalancerSettings, index: int, interface: str, prefix: int
) -> dict[str, Any]:
    """The ``index``-th lb host: all start as BACKUP, the highest priority wins the VIP."""
    return {
        "router_name": f"k8s-lb-{index}",
        "check_script": CHECK_SCRIPT_PATH,
        "interface": interface,
        "virtual_router_id": s.vrrp_router_id,
        "priority": TOP_PRIORITY - index,
        "vip": s.vip,
        "vip_prefix": prefix,
    }


def vrrp_interface(
    devices: Mapping[str, Mapping[str, Any]], address: str
) -> tuple[str, int] | None:
    """(interface, prefix length) of the interface holding ``address``, from NetworkDevices."""
    wanted = ipaddress.ip_address(address)
    family = f"ipv{wanted.version}"
    for name, device in devices.items():
        info = device.get(family) or {}
        entries = [info, *info.get("additional_ips", [])]
        for entry in entries:
            if entry.get("address") and ipaddress.ip_address(entry["address"]) == wanted:
                return name, int(entry.get("mask_bits", wanted.max_prefixlen))
    return None


def vip_prefix(vip: str, address: str, prefix: int) -> int:
    """The VIP gets the interface's prefix when it is in that network, else a host route."""
    network = ipaddress.ip_interface(f"{address}/{prefix}").network
    vip_address = ipaddress.ip_address(vip)
    return prefix if vip_address in network else vip_address.max_prefixlen


def lb_refusals(
    s: LoadBalancerSettings, lb_hosts: Sequence[LbHost], control_plane: Sequence[LbHost]
) -> list[str]:
    """Why the ``lb`` group cannot work as configured (empty when it can)."""
    problems = []
    vip = ipaddress.ip_address(s.vip)
    backend_addresses = {
        ipaddress.ip_address(a)
        for a, _ in (split_host_port("k8s_apiserver_backends", b) for b in s.backends)
        if is_ip(a)
    }
    cp_names = {h.host for h in control_plane}
    for lb in lb_hosts:
        address = ipaddress.ip_address(lb.address)
        if address == vip:
            problems.append(f"host {lb.host}: k8s_lb_vip={s.vip} is this host's own address")
        if address.version != vip.version:
            problems.append(
                f"host {lb.host}: address {lb.address} and k8s_lb_vip={s.vip} are of "
                "different IP families"
            )
        runs_apiserver = lb.host in cp_names or address in backend_addresses
        if runs_apiserver and s.lb_port == s.apiserver_port:
            problems.append(
                f"host {lb.host} runs both haproxy and an apiserver: k8s_lb_port={s.lb_port} "
                f"must differ from k8s_apiserver_port={s.apiserver_port} (e.g. 8443)"
            )
    return problems


def install_checked(check: str, staged: str, dest: str) -> str:
    """Shell command: install ``staged`` as ``dest`` only if ``check`` accepts it.

    A refused file is removed and the command fails, so the running service keeps
    its current configuration.
    """
    return (
        f"if {check.format(path=shlex.quote(staged))}; "
        f"then mv -f {shlex.quote(staged)} {shlex.quote(dest)}; "
        f"else rm -f {shlex.quote(staged)}; exit 1; fi"
    )


def render_haproxy(s: LoadBalancerSettings) -> str:
    return render(HAPROXY_CONFIG_TEMPLATE, **haproxy_context(s))


def render_keepalived(s: LoadBalancerSettings, index: int, interface: str, prefix: int) -> str:
    return render(KEEPALIVED_CONFIG_TEMPLATE, **keepalived_context(s, index, interface, prefix))
