"""Data safety: refuse a deploy that would need to re-bootstrap members that hold data.

etcd ignores ``--initial-cluster*`` once a member's data dir holds a WAL, so a changed
member list never reaches running members, and a member that starts empty next to
members with data would bootstrap a second cluster. Both need etcd's runtime
reconfiguration (``member add/remove``), which this deploy does not automate; it
refuses instead of touching any data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import yaml

from etcd_cluster.cluster import Cluster


def recorded_initial_cluster(kubeadm_config: bytes | None) -> str | None:
    """The ``initial-cluster`` extra arg of a kubeadmcfg.yaml written by an earlier run."""
    if not kubeadm_config:
        return None
    try:
        documents = list(yaml.safe_load_all(kubeadm_config))
    except yaml.YAMLError:
        return None
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "ClusterConfiguration":
            continue
        extra = ((doc.get("etcd") or {}).get("local") or {}).get("extraArgs") or {}
        if isinstance(extra, dict):
            value = extra.get("initial-cluster")
            return str(value) if value is not None else None
        for item in extra or []:
            if isinstance(item, dict) and item.get("name") == "initial-cluster":
                return str(item.get("value"))
    return None


def member_set(initial_cluster: str) -> frozenset[str]:
    """The ``name=peerURL`` entries of an initial-cluster value: their order means nothing
    to etcd, so reordering the inventory is not a membership change."""
    return frozenset(entry.strip() for entry in initial_cluster.split(",") if entry.strip())


def data_dir_refusals(
    cluster: Cluster,
    has_data: Mapping[str, bool],
    configs: Mapping[str, bytes | None],
    unstarted_peer_urls: Collection[str] = (),
) -> list[str]:
    """Reasons to refuse, one per member; ``has_data``/``configs`` are keyed by host name.

    A member without data that the live cluster lists as never started (its peer URL
    in ``unstarted_peer_urls``) is a first bootstrap that member did not finish: it
    may start with the bootstrap's own flags, and it joins.
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
        if not has_data.get(member.host) and unfinished:
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
        elif member_set(recorded) != member_set(cluster.initial_cluster):
            changed.setdefault(recorded, []).append(member.host)
    for recorded, hosts in changed.items():
        refusals.append(
            f"{', '.join(hosts)} hold data of the cluster {recorded!r}, but the inventory now "
            f"says {cluster.initial_cluster!r}: changing the members of a running cluster needs "
            "`etcdctl member add/remove`; refusing (no data was touched)"
        )
    return refusals
