"""The inventory is the desired membership: which members to remove, add, promote or replace.

A pure plan over the live member list (as one healthy member reports it), the inventory,
and what each host holds, refusing anything unsafe, in the order etcd wants:
removals first, then one learner at a time (``member add --learner``, start it with
``initial-cluster-state=existing`` and the live member list, promote it once it has
caught up). Existing members are never restarted for it: their bootstrap-only flags
stay as they were recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.quorum import ClusterView, LiveMember

REMOVE = "remove"
ADD = "add"  # as a learner, then start it
PROMOTE = "promote"  # a learner that is already running
UPDATE = "update"  # set a member's peer URLs to exactly the wanted one


@dataclass(frozen=True)
class Change:
    """One step of a membership change."""

    kind: str
    name: str
    peer_url: str
    host: str = ""  # the inventory host (add, promote)
    member_id: str = ""  # the live member (remove, promote, update)
    listed: tuple[str, ...] = ()  # update: the peer URLs etcd lists now

    def describe(self) -> str:
        where = f" ({self.host})" if self.host else ""
        return {
            REMOVE: f"remove {self.name}{where}",
            ADD: f"add {self.name}{where} as a learner, start it, promote it",
            PROMOTE: f"promote the learner {self.name}{where}",
            UPDATE: f"set the peer URLs of {self.name}{where} to exactly {self.peer_url} "
            f"(etcd lists {', '.join(self.listed)})",
        }[self.kind]


@dataclass
class MembershipPlan:
    """The changes, in order, and why a change cannot be made (refusals)."""

    changes: list[Change] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    # per joining host: the --initial-cluster it must start with (live members then)
    join_initial_cluster: dict[str, str] = field(default_factory=dict)
    # members listed with peer URLs besides the wanted one (member update, no restart)
    url_updates: list[Change] = field(default_factory=list)

    @property
    def joining(self) -> list[str]:
        return [c.host for c in self.changes if c.kind == ADD]


def _entry(name: str, peer_url: str) -> str:
    return f"{name}={peer_url}"


def plan_membership(
    cluster: Cluster,
    view: ClusterView,
    has_data: Mapping[str, bool],
    remove: Collection[str],
    replace: Collection[str],
) -> MembershipPlan:
    """Compare the live member list with the inventory (``has_data`` keyed by host)."""
    plan = MembershipPlan()
    port = cluster.settings.peer_port
    by_name = {live.name: live for live in view.members if live.name}
    by_peer = {url: live for live in view.members for url in live.peer_urls}
    matched: set[str] = set()  # live member ids that the inventory accounts for
    additions: list[Member] = []
    pending_learners: dict[str, str] = {}  # host -> member id already added
    for member in cluster.members:
        peer_url = member.peer_url(port)
        live = by_peer.get(peer_url) or by_name.get(member.name)
        if live is None:
            if has_data.get(member.host):
                plan.refusals.append(
                    f"host {member.host} ({member.name}) is not a member but holds etcd data: "
                    "move its data dir aside before it joins"
                )
            additions.append(member)
            continue
        matched.add(live.member_id)
        if peer_url not in live.peer_urls:
            plan.refusals.append(
                f"{member.name} is a member at {', '.join(live.peer_urls)}, the inventory says "
                f"{peer_url}: an address change is a replacement; remove the member "
                "(etcd_remove_members) and add the host again under a new name"
            )
            continue
        if live.name and live.name != member.name:
            plan.refusals.append(
                f"host {member.host}: the member at {peer_url} is named {live.name!r}, the "
                f"inventory says {member.name!r}: renaming a member is a replacement"
            )
            continue
        lost = live.started and not has_data.get(member.host)
        if lost and member.name in replace:
            plan.changes.append(Change(REMOVE, member.name, peer_url, member.host, live.member_id))
            additions.append(member)
        elif lost:
            plan.refusals.append(
                f"host {member.host} ({member.name}) has no etcd data but the cluster lists it "
                "as a started member: its data is lost; list it in etcd_replace_members to "
                "remove its old entry and add it again as a learner (its data re-syncs)"
            )
        elif live.is_learner and not live.started:
            # added as a learner by an earlier run that stopped before starting it
            additions.insert(0, member)
            pending_learners[member.host] = live.member_id
        elif live.is_learner:
            plan.changes.append(Change(PROMOTE, member.name, peer_url, member.host, live.member_id))
        update = peer_url_update(member, live, peer_url)
        if update is not None and not lost:
            plan.url_updates.append(update)
    for live in view.members:
        if live.member_id in matched:
            continue
        name = live.name or ", ".join(live.peer_urls)
        if live.name and live.name in remove:
            plan.changes.insert(0, Change(REMOVE, live.name, live.peer_urls[0], "", live.member_id))
        else:
            plan.refusals.append(
                f"member {name} is not in the inventory group 'etcd': to remove it, list it in "
                "etcd_remove_members; otherwise add its host back to the inventory"
            )
    _join_order(cluster, view, plan, additions, pending_learners)
    plan.refusals += _quorum_refusals(view, plan)
    return plan


def peer_url_update(member: Member, live: LiveMember, peer_url: str) -> Change | None:
    """A member's peer URLs are exactly the wanted one: an extra URL (``etcdctl member
    update``) would have the others dial an address the deploy never chose. etcd's member
    update sets the list whole, without a restart (None: nothing to change)."""
    if live.peer_urls == (peer_url,) or peer_url not in live.peer_urls:
        return None  # in place, or an address change (refused above)
    return Change(UPDATE, member.name, peer_url, member.host, live.member_id, live.peer_urls)


def _join_order(
    cluster: Cluster,
    view: ClusterView,
    plan: MembershipPlan,
    additions: Sequence[Member],
    pending_learners: Mapping[str, str],
) -> None:
    """Adds after every removal, one at a time; each joins with the member list it will see
    (etcd checks that a joining member's --initial-cluster matches the live list)."""
    port = cluster.settings.peer_port
    removed = {c.member_id for c in plan.changes if c.kind == REMOVE}
    pending = set(pending_learners.values())
    current = [
        _entry(live.name, live.peer_urls[0])
        for live in view.members
        if live.member_id not in removed | pending and live.name and live.peer_urls
    ]
    for member in additions:
        current.append(_entry(member.name, member.peer_url(port)))
        plan.join_initial_cluster[member.host] = ",".join(current)
        member_id = pending_learners.get(member.host, "")
        plan.changes.append(Change(ADD, member.name, member.peer_url(port), member.host, member_id))


def _quorum_refusals(view: ClusterView, plan: MembershipPlan) -> list[str]:
    """A removal must leave a healthy quorum of the remaining voters."""
    removed = {c.member_id for c in plan.changes if c.kind == REMOVE}
    if not removed:
        return []
    healthy_endpoints = {s.endpoint for s in view.statuses if s.healthy}
    voters = [m for m in view.members if not m.is_learner and m.member_id not in removed]
    healthy = [m for m in voters if healthy_endpoints.intersection(m.client_urls)]
    needed = len(voters) // 2 + 1
    if not voters or len(healthy) < needed:
        names = ", ".join(c.name for c in plan.changes if c.kind == REMOVE)
        return [
            f"removing {names} would leave {len(healthy)} healthy of {len(voters)} voting "
            f"members, {needed} needed for quorum: refusing (bring the others back first)"
        ]
    return []
