"""HA guide, "Create load balancer for kube-apiserver": haproxy + keepalived on group ``lb``.

haproxy passes TCP to the apiservers round robin and takes out one whose HTTPS
``GET /healthz`` fails; keepalived holds ``k8s_lb_vip`` on one lb host and gives it
up when that host's haproxy stops answering. Each configuration is checked by the
service itself (``haproxy -c``, ``keepalived --config-test``) before it is installed,
and the service is reloaded only when its configuration changed.
"""

from pyinfra import host, state
from pyinfra.facts.hardware import NetworkDevices
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from etcd_cluster.controlplane.hosts import (
    LB_GROUP,
    control_plane_hosts,
    group_hosts,
    host_address,
    is_lb,
    lb_settings,
)
from etcd_cluster.controlplane.ops import checked_file
from etcd_cluster.defaults import setting
from etcd_cluster.engine import templates
from etcd_cluster.errors import DeployInputError
from etcd_cluster.loadbalancer import config as lb


def running_and_reloaded(service, *configs):
    """The service runs at boot and now; it reloads only when one of ``configs`` changed."""
    systemd.service(
        name=f"{service} running and enabled", service=service, running=True, enabled=True
    )
    systemd.service(
        name=f"Reload {service} (its configuration changed)",
        service=service,
        reloaded=True,
        _if=any_changed(*configs),
    )


def run() -> None:
    if is_lb(host):
        lb_hosts = group_hosts(state, LB_GROUP)
        control_plane = [lb.LbHost(h.name, host_address(h)) for h in control_plane_hosts(state)]
        settings = lb_settings(state)
        assert settings is not None
        members = [lb.LbHost(h.name, host_address(h)) for h in lb_hosts]
        refusals = lb.lb_refusals(settings, members, control_plane)
        if refusals:
            raise DeployInputError("; ".join(refusals))
        address = host_address(host)
        index = next(i for i, h in enumerate(lb_hosts) if h.name == host.name)
        found = lb.vrrp_interface(host.get_fact(NetworkDevices), address)
        if found is None:
            raise DeployInputError(
                f"host {host.name}: no interface holds its address {address} for VRRP; "
                "set k8s_address to one of its addresses or k8s_lb_vrrp_interface"
            )
        interface = setting(host, "k8s_lb_vrrp_interface") or found[0]
        prefix = lb.vip_prefix(settings.vip, address, found[1])

        apt.packages(
            name="Install haproxy and keepalived (Debian's packages)",
            packages=["haproxy", "keepalived"],
        )
        haproxy_config = checked_file(
            name="haproxy: apiserver frontend, /healthz-checked backends (checked by haproxy -c)",
            path=lb.HAPROXY_CONFIG_PATH,
            content=lb.render_haproxy(settings),
            check=lb.HAPROXY_CHECK,
        )
        running_and_reloaded("haproxy", haproxy_config)
        check_script = files.template(
            name="keepalived's check script: is haproxy answering here?",
            src=str(templates.path(lb.CHECK_SCRIPT_TEMPLATE)),
            dest=lb.CHECK_SCRIPT_PATH,
            mode="755",
            user="root",
            group="root",
            **lb.check_script_context(settings),
        )
        keepalived_config = checked_file(
            name=f"keepalived: VRRP for {settings.vip} on {interface} (checked by keepalived -t)",
            path=lb.KEEPALIVED_CONFIG_PATH,
            content=lb.render_keepalived(settings, index, interface, prefix),
            check=lb.KEEPALIVED_CHECK,
        )
        running_and_reloaded("keepalived", keepalived_config, check_script)
