"""Which steps an inventory asks for: an etcd-only inventory runs exactly the etcd steps."""

from __future__ import annotations

import pytest
from pyinfra.api import Config, Inventory, State

from etcd_cluster.controlplane.hosts import control_plane_wanted, etcd_steps_wanted, host_address
from etcd_cluster.errors import DeployInputError


def _state(**groups) -> State:
    """A real pyinfra state; host data comes with the hosts of the ``all`` group."""
    entries = {}
    for hosts, _ in groups.values():
        for entry in hosts:
            name, data = entry if isinstance(entry, tuple) else (entry, {})
            entries[name] = data
    groups = {
        g: ([e[0] if isinstance(e, tuple) else e for e in hosts], data)
        for g, (hosts, data) in groups.items()
    }
    return State(inventory=Inventory((list(entries.items()), {}), **groups), config=Config())


ETCD: tuple[list[str], dict[str, object]] = (["10.0.0.6"], {})


def test_etcd_only_inventory_runs_only_the_etcd_steps():
    state = _state(etcd=ETCD)
    assert etcd_steps_wanted(state) and not control_plane_wanted(state)


def test_control_plane_without_endpoint_is_only_the_etcd_hand_off():
    state = _state(etcd=ETCD, control_plane=(["10.0.0.20"], {}))
    assert etcd_steps_wanted(state) and not control_plane_wanted(state)
    # ... and without members the etcd steps still run, to refuse the empty group.
    assert etcd_steps_wanted(_state(control_plane=(["10.0.0.20"], {})))


def test_ha_guide_groups_alone_skip_the_etcd_steps():
    assert not etcd_steps_wanted(_state(lb=(["10.0.0.30"], {})))
    stacked = _state(control_plane=(["10.0.0.20"], {"k8s_control_plane_endpoint": "lb:6443"}))
    assert control_plane_wanted(stacked) and not etcd_steps_wanted(stacked)
    both = _state(etcd=ETCD, lb=(["10.0.0.30"], {}), control_plane=(["10.0.0.20"], {}))
    assert etcd_steps_wanted(both) and control_plane_wanted(both)


def test_host_address_falls_back_to_etcd_address_then_the_name():
    state = _state(
        control_plane=(
            [
                ("@docker/a", {"k8s_address": "10.0.0.1"}),
                ("@docker/b", {"etcd_address": "fd00::2"}),
            ],
            {},
        ),
        lb=(["10.0.0.3", "@docker/c"], {}),
    )
    hosts = {h.name: h for h in state.inventory}
    assert host_address(hosts["@docker/a"]) == "10.0.0.1"
    assert host_address(hosts["@docker/b"]) == "fd00::2"
    assert host_address(hosts["10.0.0.3"]) == "10.0.0.3"
    with pytest.raises(DeployInputError, match="host @docker/c: set k8s_address"):
        host_address(hosts["@docker/c"])
