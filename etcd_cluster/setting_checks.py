"""Settings that would be silently ignored, refused before any host changes.

A misspelt ``etcd_*``/``k8s_*`` key, a renamed one, and a cluster-wide setting that a
later host's own data (the inventory's host data, pyinfra's ``Host.host_data``) sets to
another value than the first host of its group has: settings are read from that first
host only. Group data, which every host of the group shares, is not a mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
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


def misplaced(
    group: str, first: str, first_values: Mapping[str, Any], others: Sequence[tuple[str, Mapping]]
) -> list[str]:
    """Cluster-wide settings read from ``first`` that another host's own data sets otherwise.

    ``others``: each later host of ``group`` with the keys its own (host) data sets, and
    their values as that host sees them (``--data`` overrides host data).
    """
    refusals = []
    for name, own in others:
        for key, value in own.items():
            spec = SETTINGS.get(key)
            if spec is None or group not in spec.scope or value == first_values[key]:
                continue
            refusals.append(
                f"host {name}: {key}={value!r} is ignored: {key} is cluster-wide, read from "
                f"the first {group} host {first} ({first_values[key]!r}); set it on {first} "
                f"or for the whole group (group_data/{group}.py, --data)"
            )
    return refusals


def check_data(state: State) -> None:
    """Refuse unknown keys on any host, and misplaced cluster-wide settings."""
    refusals = unknown_keys({h.name: h.data.dict() for h in state.inventory})
    for group in (ETCD, LB, CONTROL_PLANE):
        hosts: list[Host] = list(state.inventory.get_group(group, []))  # pyinfra drops empty ones
        if not hosts:
            continue
        first = hosts[0]
        keys = [s.name for s in SETTINGS.values() if group in s.scope and PER_HOST not in s.scope]
        values = {key: setting(first, key) for key in keys}
        # what each later host's own data sets, as that host sees it (--data still wins)
        own = [
            (h.name, {k: setting(h, k) for k in h.host_data if k in SETTINGS}) for h in hosts[1:]
        ]
        refusals += misplaced(group, first.name, values, own)
    if refusals:
        raise DeployInputError("; ".join(refusals))
