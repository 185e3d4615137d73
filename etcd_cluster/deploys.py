"""The deploys as pyinfra ``@deploy`` functions, for ``deploy.py`` and for a team's own deploy.

    from etcd_cluster import deploy_etcd_cluster, deploy_ha_control_plane

    deploy_etcd_cluster()       # "Set up a High Availability etcd cluster with kubeadm"
    deploy_ha_control_plane()   # "Creating Highly Available Clusters with kubeadm"

Each reads like its guide: one call per step, each step one module of ``tasks/``
(``etcd_cluster.layout.step``). Defaults come from ``data_defaults`` (the lowest layer
of pyinfra's host data), so inventory, group data and ``--data`` override them.
"""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api import deploy

from etcd_cluster.controlplane.hosts import (
    WORKERS_GROUP,
    any_in_limit,
    control_plane_hosts,
    control_plane_wanted,
    etcd_steps_wanted,
    group_hosts,
)
from etcd_cluster.defaults import DEFAULTS
from etcd_cluster.engine.plan import etcd_hosts, is_member
from etcd_cluster.engine.pyinfra_compat import use_fast_operation_order
from etcd_cluster.layout import step
from etcd_cluster.membership.ops import is_retiring
from etcd_cluster.status.ops import cluster_status, get_status


@deploy("etcd cluster", data_defaults=DEFAULTS)
def deploy_etcd_cluster() -> None:
    """The etcd guide's steps on the ``etcd`` group, inside the cluster's run lock; nothing
    for an inventory that holds only the HA guide's groups."""
    use_fast_operation_order()  # pyinfra's own reads every frame's source per operation
    members = etcd_hosts(state)  # an empty group is the preflight's to refuse
    if not etcd_steps_wanted(state) or (members and not any_in_limit(state, members)):
        return  # no etcd guide here, or --limit names no member (engine/limit.py)
    step("preflight").run()  # refuse bad input before any host changes
    step("run_lock").run()  # one run at a time: the lock, if this run changes anything
    if is_member(host):
        step("packages").run()  # curl, openssl; etcd for the systemd runtime
        step("install_etcd").run()  # a chosen etcd version from its release archive
        step("kubelet").run()  # 1. kubelet as etcd's service manager (static-pod)
        step("kubeadm_config").run()  # 2. one kubeadm config per host
        step("certificates").run()  # 3-5. CA, member certificates, distribution
        step("expected_files").run()  # 6. every expected file is in place
    if is_member(host) or is_retiring(host):
        step("snapshot").run()  # a verified snapshot, or nothing changes: a gate
        step("membership").run()  # members no longer in the inventory are removed
    if is_member(host):
        step("start_etcd").run()  # 7. start etcd and its snapshot timer; joins; restarts
        step("defrag").run()  # defragment by rule; NOSPACE recovery when asked
        step("health").run()  # 8. all members healthy, one leader; status table
    step("control_plane").run()  # hand-off: etcd.external for the control plane
    if is_member(host) or is_retiring(host):
        step("ca_key").run()  # last: ca.key leaves every host but the first member
    step("run_unlock").run()  # last: give the run lock back


@deploy("HA control plane", data_defaults=DEFAULTS)
def deploy_ha_control_plane() -> None:
    """The HA guide's steps for the ``lb``, ``control_plane`` and ``workers`` groups."""
    use_fast_operation_order()
    step("load_balancer").run()  # haproxy + keepalived VIP in front of the apiservers
    if control_plane_wanted(state) and any_in_limit(
        state, control_plane_hosts(state) + group_hosts(state, WORKERS_GROUP)
    ):
        step("kubernetes_pki").run()  # the shared CAs on every control-plane host
        step("kubeadm_control_plane").run()  # kubeadm init, CNI, kubeadm join


@deploy("etcd status", data_defaults=DEFAULTS)
def etcd_cluster_status() -> None:
    """Read only, at any time: one row per member, failing when something needs attention
    (``etcd/health.py``)."""
    use_fast_operation_order()
    if is_member(host):
        get_status(state)  # survey, print and write while pyinfra prepares
        cluster_status(name="etcd cluster status (fails when something needs attention)")


@deploy("etcd restore", data_defaults=DEFAULTS)
def restore_etcd_cluster() -> None:
    """The whole cluster from one snapshot (``backup/restore.py``; etcd's recovery guide)."""
    use_fast_operation_order()
    if is_member(host):
        step("restore").run()
