"""``--limit``: which members a run reads and changes, and when a limited run refuses.

pyinfra connects only to the hosts ``--limit`` names. A member left out is read only
through the cluster's own API (the member list and health a member inside the limit
probes); it is neither surveyed nor changed. A limited run repairs, renews and restarts
the members inside it behind the same quorum gate as a full run; membership changes and
a first bootstrap need every member, so they refuse; signing needs ``ca.key``, which
only the first member holds, so with the first member outside a signature refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.quorum import ClusterView
from etcd_cluster.membership.changes import MembershipPlan

FULL_RUN = "run without --limit"


def members_inside(cluster: Cluster, in_limit: Callable[[str], bool]) -> tuple[Member, ...]:
    """The members this run reads and changes (every member without ``--limit``)."""
    return tuple(m for m in cluster.members if in_limit(m.host))


def outside(cluster: Cluster, inside: Collection[str]) -> list[Member]:
    return [m for m in cluster.members if m.host not in inside]


def limit_refusals(
    cluster: Cluster,
    inside: Collection[str],
    view: ClusterView | None,
    membership: MembershipPlan,
) -> list[str]:
    """Why a run limited to ``inside`` (host names) cannot go on: every member left out must
    be a started member of the live cluster, and the member list must stay as it is."""
    left_out = outside(cluster, inside)
    if not left_out:
        return []
    names = ", ".join(m.host for m in left_out)
    if not inside:
        return [f"--limit leaves out every etcd member ({names}): nothing to read the cluster"]
    if view is None or not view.members:
        return [
            f"--limit leaves out {names}, and no member inside it read the cluster's member "
            f"list: a limited run changes a running cluster only; {FULL_RUN}"
        ]
    started = {live.name for live in view.members if live.started}
    refusals = [
        f"host {m.host} ({m.name}) is left out by --limit but is not a started member of "
        f"the cluster: starting or joining it needs every member; {FULL_RUN}"
        for m in left_out
        if m.name not in started
    ]
    changes = [c.describe() for c in (*membership.changes, *membership.url_updates)]
    if changes:
        refusals.append(
            f"--limit leaves out {names}, but the member list changes ({'; '.join(changes)}): "
            f"{FULL_RUN}"
        )
    return refusals


def signing_refusal(first: Member) -> str:
    """Why a certificate cannot be signed: the first member, holding ca.key, is left out."""
    return (
        f"a certificate must be signed, but host {first.host} (first etcd member {first.name}, "
        f"the only one holding ca.key) is left out by --limit: add {first.host} to --limit "
        f"or {FULL_RUN}"
    )
