"""Data safety: refuse a deploy that would need to re-bootstrap members that hold data.

etcd ignores ``--initial-cluster*`` once a member's data dir holds a WAL, so a changed
member list never reaches running members, and a member that starts empty next to
members with data would bootstrap a second cluster. Both need etcd's runtime
reconfiguration (``member add/remove``), which this deploy does not automate; it
refuses instead of touching any data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import cache

import yaml

from etcd_cluster.etcd.cluster import Cluster

# libyaml's parser when PyYAML has it: the pure-Python one was a tenth of a no-op run's CPU
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _recorded_args(kubeadm_config: bytes | None) -> dict[str, str] | None:
    """The ``etcd.local.extraArgs`` of a kubeadmcfg.yaml written by an earlier run (read
    once per content: several steps ask)."""
    if not kubeadm_config:
        return None
    try:
        documents = list(yaml.load_all(kubeadm_config, Loader=SafeLoader))
    except yaml.YAMLError:
        return None
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "ClusterConfiguration":
            continue
        extra = ((doc.get("etcd") or {}).get("local") or {}).get("extraArgs") or {}
        if isinstance(extra, dict):
            return {str(k): str(v) for k, v in extra.items()}
        return {
            str(item.get("name")): str(item.get("value"))
            for item in extra
            if isinstance(item, dict)
        }
    return None


def recorded_initial_cluster(kubeadm_config: bytes | None) -> str | None:
    """The ``initial-cluster`` extra arg of a kubeadmcfg.yaml written by an earlier run."""
    return (_recorded_args(kubeadm_config) or {}).get("initial-cluster")


def recorded_bootstrap(kubeadm_config: bytes | None) -> tuple[str, str] | None:
    """``(initial-cluster, initial-cluster-state)`` a member was first started with."""
    args = _recorded_args(kubeadm_config) or {}
    if "initial-cluster" not in args:
        return None
    return args["initial-cluster"], args.get("initial-cluster-state", "new")


def same_members(a: str, b: str) -> bool:
    """Two --initial-cluster values name the same members (order does not matter to etcd)."""
    return sorted(a.split(",")) == sorted(b.split(","))


def data_dir_refusals(
    cluster: Cluster,
    has_data: Mapping[str, bool],
    configs: Mapping[str, bytes | None],
    unstarted_peer_urls: Collection[str] = (),
    membership_known: bool = False,
) -> list[str]:
    """Reasons to refuse, one per member; ``has_data``/``configs`` are keyed by host name.

    A member without data that the live cluster lists as never started (its peer URL
    in ``unstarted_peer_urls``) is a first bootstrap that member did not finish: it
    may start with the bootstrap's own flags, and it joins. With ``membership_known``
    (the live member list was read), members without data and a changed member list
    are the membership plan's to handle; only data this deploy did not make is refused.
    """
    wal = cluster.settings.wal_dir
    holders = [m.host for m in cluster.members if has_data.get(m.host)]
    if not holders:
        return []  # a first bootstrap
    refusals = []
    changed: dict[str, list[str]] = {}  # recorded member list -> hosts holding it
    peer_port = cluster.settings.peer_port
    for member in cluster.members:
        where = f"host {member.host} (etcd member {member.name})"
        unfinished = member.peer_url(peer_port) in unstarted_peer_urls
        if not has_data.get(member.host) and (unfinished or membership_known):
            continue
        if not has_data.get(member.host):
            refusals.append(
                f"{where} has no etcd data in {wal} while {', '.join(holders)} do: adding or "
                "replacing a member needs `etcdctl member add` first; refusing to bootstrap it "
                "as a new cluster"
            )
        elif (recorded := recorded_initial_cluster(configs.get(member.host))) is None:
            refusals.append(
                f"{where} holds etcd data in {wal} that this deploy did not create "
                f"(no {cluster.settings.kubeadm_config_path}); refusing to touch it"
            )
        elif not membership_known and not same_members(recorded, cluster.initial_cluster):
            changed.setdefault(recorded, []).append(member.host)
    for recorded, hosts in changed.items():
        refusals.append(
            f"{', '.join(hosts)} hold data of the cluster {recorded!r}, but the inventory now "
            f"says {cluster.initial_cluster!r}: changing the members of a running cluster needs "
            "`etcdctl member add/remove`; refusing (no data was touched)"
        )
    return refusals
