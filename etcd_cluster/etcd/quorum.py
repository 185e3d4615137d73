"""Whether a member may restart now: decided from the live cluster, not the inventory.

The gate reads etcd's own member list (voters and learners, started or not) and its
alarms, as seen from one member, together with each endpoint's health. Pure
functions over that view, so the rules are unit-tested without hosts:

- an active alarm (NOSPACE, CORRUPT) is cluster-wide: restarting members does not
  clear it and a run must never bounce every member because ``/health`` fails; an
  alarm answer that failed or cannot be read refuses too (it cannot tell);
- only a member whose own host shows etcd not running skips the quorum rule (nothing
  to lose by starting it); silence from its endpoint proves nothing: a slow member, or
  one the prober cannot reach while its peers can, still votes;
- otherwise the *other* healthy voters must still form a quorum of the live voters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.health import MemberStatus, json_object, parse_probe


@dataclass(frozen=True)
class LiveMember:
    """One entry of etcd's member list."""

    member_id: str
    name: str  # "" for a member added at runtime until it has started
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]  # empty until the member has started and published itself
    is_learner: bool = False

    @property
    def started(self) -> bool:
        """etcd's own test (isMemberBootstrapped): a member that published client URLs."""
        return bool(self.client_urls)


@dataclass(frozen=True)
class ClusterView:
    """Health per inventory endpoint, plus the member list and alarms one member reported."""

    statuses: tuple[MemberStatus, ...]
    members: tuple[LiveMember, ...]  # empty: no member answered the member list
    alarms: tuple[tuple[str, str], ...]  # (member id, alarm name)
    source: str = ""  # the endpoint that gave the member list
    alarm_error: str = ""  # why the alarms are unknown ("" when they were read)


def parse_view(cluster: Cluster, lines: Sequence[str]) -> ClusterView:
    """Parse ``status.probe_script(..., with_members=True)`` output."""
    members: tuple[LiveMember, ...] = ()
    alarms: tuple[tuple[str, str], ...] = ()
    source, alarm_error = "", "no answer"
    for line in lines:
        kind, _, rest = line.partition("\t")
        endpoint, _, body = rest.partition("\t")
        if kind == "members":
            members, source = _members(body), endpoint
        elif kind == "alarms":
            alarms, alarm_error = _alarms(body)
    return ClusterView(tuple(parse_probe(cluster, lines)), members, alarms, source, alarm_error)


def _members(body: str) -> tuple[LiveMember, ...]:
    result = []
    for item in json_object(body).get("members") or []:
        if isinstance(item, dict):
            result.append(
                LiveMember(
                    member_id=str(item.get("ID", "")),
                    name=str(item.get("name", "")),
                    peer_urls=tuple(item.get("peerURLs") or ()),
                    client_urls=tuple(item.get("clientURLs") or ()),
                    is_learner=bool(item.get("isLearner", False)),
                )
            )
    return tuple(result)


def _alarms(body: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """The active alarms, and why they are unknown. No alarm is a JSON object (etcd 3.4
    answers ``{}``); an error object, a curl message, nothing or garbage is no answer,
    never "no alarms"."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "error" in answer or "code" in answer:
        return (), body.strip()[:200] or "no answer"
    found = []
    for item in answer.get("alarms") or []:
        if not isinstance(item, dict):
            return (), f"unreadable alarm entry: {str(item)[:200]}"
        found.append((str(item.get("memberID", "")), str(item.get("alarm", "NONE"))))
    return tuple((member, alarm) for member, alarm in found if alarm != "NONE"), ""


def live_member_of(view: ClusterView, member: Member, peer_url: str) -> LiveMember | None:
    """The member-list entry for an inventory member: by peer URL (names come later)."""
    for live in view.members:
        if peer_url in live.peer_urls:
            return live
    return None


def unstarted_peer_urls(view: ClusterView) -> set[str]:
    """Peer URLs of members the cluster lists but that never started (a first bootstrap
    one member did not finish: it may start with the bootstrap's own flags)."""
    return {url for live in view.members if not live.started for url in live.peer_urls}


def restart_refusals(
    cluster: Cluster, view: ClusterView, member: Member, *, running: bool
) -> list[str]:
    """Why ``member`` must not restart now (empty: it may). ``running``: whether its own
    host shows its etcd running (read at execution time, not from the probe)."""
    if view.alarms:
        names = ", ".join(sorted({alarm for _, alarm in view.alarms}))
        return [
            f"the cluster has an active alarm ({names}): restarting members does not clear it "
            "and could cost quorum; for NOSPACE rerun with --data etcd_nospace_recover=yes "
            "(and raise quota-backend-bytes if the data is that large); otherwise fix the "
            "cause, then `etcdctl alarm disarm`, then rerun"
        ]
    if not view.members:
        return ["no member answered the member list: cannot tell whether quorum would hold"]
    if view.alarm_error:
        return [
            f"cannot tell whether an alarm is active (the alarm request to {view.source} "
            f"answered: {view.alarm_error}): not restarting members blind"
        ]
    port = cluster.settings.peer_port
    health = {s.member.peer_url(port): s for s in view.statuses}
    me = live_member_of(view, member, member.peer_url(port))
    mine = health.get(member.peer_url(port))
    if me is None:
        return [f"{member.name} is not in the cluster's member list: not restarting it"]
    if me.is_learner or not running:
        return []  # a learner does not vote; a member whose etcd is not running is down
    voters = [live for live in view.members if not live.is_learner]
    quorum = len(voters) // 2 + 1
    healthy_others = [
        live
        for live in voters
        if live is not me and any(url in health and health[url].healthy for url in live.peer_urls)
    ]
    if len(healthy_others) >= quorum:
        return []
    silent = (
        f"{member.name}'s etcd runs but its endpoint does not answer here "
        f"({mine.error}): it counts as up; "
        if mine is not None and not mine.answered
        else ""
    )
    return [
        f"{silent}only {len(healthy_others)} other voting member(s) of {len(voters)} are "
        f"healthy, {quorum} needed to keep quorum while {member.name} restarts"
    ]


def gate(
    cluster: Cluster,
    member: Member,
    views: Iterable[tuple[str, ClusterView]],
    shows_stopped: Callable[[], bool],
) -> list[str]:
    """Why ``member`` must not restart now, from ``views`` (``(viewer, view)``, its own
    first, read lazily): one view that lets it is enough, since a member cut off from
    the others sees no quorum while the others see they keep it. It counts as running
    unless ``shows_stopped()`` (its own host, looked at now) says otherwise; that is
    asked only when the first view refuses."""
    seen: dict[str, list[str]] = {}
    running = True
    for viewer, view in views:
        found = restart_refusals(cluster, view, member, running=running)
        if found and not seen and shows_stopped():
            running = False  # its own host shows etcd down: nothing to lose by starting it
            found = restart_refusals(cluster, view, member, running=running)
        if not found:
            return []
        seen[viewer] = found
    return [f"seen from {viewer}: {'; '.join(found)}" for viewer, found in seen.items()]
