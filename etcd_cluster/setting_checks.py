"""Settings that would be silently ignored, refused before any host changes.

A misspelt ``etcd_*``/``k8s_*`` key, a renamed one, and a cluster-wide setting that a
host's own data (the inventory's host data, pyinfra's ``Host.host_data``) sets to another
value than the first host of its group has (or, for a host outside the groups that read
it, than the host it is read from): settings are read from that first host only. Group
data, which every host of the group shares, is not a mistake.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.defaults import (
    CONTROL_PLANE,
    ETCD,
    LB,
    PER_HOST,
    PREFIXES,
    RENAMED,
    SETTINGS,
    setting,
)
from etcd_cluster.engine.pyinfra_compat import real_state
from etcd_cluster.errors import DeployInputError

DOC = "docs/settings.md"


def unknown_keys(keys_by_host: Mapping[str, Iterable[str]]) -> list[str]:
    """One refusal per unknown or renamed key, naming the hosts that have it."""
    hosts_of: dict[str, list[str]] = {}
    for host_name, keys in keys_by_host.items():
        for key in keys:
            if key in RENAMED or (key.startswith(PREFIXES) and key not in SETTINGS):
                hosts_of.setdefault(key, []).append(host_name)
    refusals = []
    for key, hosts in sorted(hosts_of.items()):
        where = f"{key} (data of {', '.join(hosts)})"
        if key in RENAMED:
            refusals.append(f"{where} was renamed {RENAMED[key]}: rename it (see {DOC})")
            continue
        close = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        refusals.append(f"{where} is not a setting of this deploy: {hint}(every setting: {DOC})")
    return refusals


# A host as the checks see it: its name, its groups, and what its own data sets (as that
# host sees each value: ``--data`` overrides host data).
HostView = tuple[str, Collection[str], Mapping[str, Any]]
# Each group in the inventory -> its first host and that host's values.
Firsts = Mapping[str, tuple[str, Mapping[str, Any]]]


def misplaced(firsts: Firsts, hosts: Sequence[HostView]) -> list[str]:
    """Cluster-wide settings that a host's own data sets otherwise than the host they are
    read from has them: the first host of the host's own group that reads the setting, or,
    for a host in none of those groups, of the first such group in the inventory.
    """
    refusals = []
    for name, groups, own in hosts:
        for key, value in own.items():
            spec = SETTINGS.get(key)
            if spec is None or PER_HOST in spec.scope:
                continue
            readers = [group for group in spec.scope if group in firsts]
            for group in [g for g in readers if g in groups] or readers[:1]:
                first, values = firsts[group]
                if name == first or value == values[key]:
                    continue
                refusals.append(
                    f"host {name}: {key}={value!r} is ignored: {key} is cluster-wide, read from "
                    f"the first {group} host {first} ({values[key]!r}); set it on {first} "
                    f"or for the whole group (group_data/{group}.py, --data)"
                )
    return refusals


# per run (a State): the refusals, worked out once; gone with the State
_found: weakref.WeakKeyDictionary[State, list[str]] = weakref.WeakKeyDictionary()


def check_data(state: State) -> None:
    """Refuse unknown keys on any host, and misplaced cluster-wide settings.

    Every plan that reads settings calls it (etcd, load balancer, control plane, each
    for every host): the inventory is looked through once a run, the answer reused."""
    run = real_state(state)
    if run not in _found:
        _found[run] = _data_refusals(state)
    if _found[run]:
        raise DeployInputError("; ".join(_found[run]))


def _data_refusals(state: State) -> list[str]:
    refusals = unknown_keys({h.name: h.data.dict() for h in state.inventory})
    firsts: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for group in (ETCD, LB, CONTROL_PLANE):
        hosts: list[Host] = list(state.inventory.get_group(group, []))  # pyinfra drops empty ones
        if hosts:
            keys = [s.name for s in SETTINGS.values() if group in s.scope]
            firsts[group] = (hosts[0].name, {key: setting(hosts[0], key) for key in keys})
    views = [
        (h.name, h.groups, {k: setting(h, k) for k in h.host_data if k in SETTINGS})
        for h in state.inventory
    ]
    return refusals + misplaced(firsts, views)
