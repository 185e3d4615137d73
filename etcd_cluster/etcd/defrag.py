"""Defragmentation by rule and NOSPACE recovery: pure decisions over the survey's probe.

etcd never gives back the space that compaction frees inside its DB file; only a
defragmentation does, and it blocks the member while it runs. So a member is
defragmented when its free space (``dbSize - dbSizeInUse``) is both a large share of
the file and large in bytes (``etcd_defrag_free_percent``, ``etcd_defrag_free_mb``:
Talos's guide defragments below 50 % in use; the etcd-defrag tool's example rule asks
for 200 MB free; 50 % and 100 MiB here), one member at a time behind the restart gate,
followers first and the leader last, its leadership moved away first.

A NOSPACE alarm stops every write: a run refuses at once and names the way out, or,
with ``etcd_nospace_recover=yes``, compacts to the current revision, defragments every
member, disarms the alarm and checks a write (etcd's maintenance guide, "space quota").
Every step can be repeated, so a run that dies midway leaves what the next one finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from etcd_cluster.etcd.health import MemberStatus, size_text
from etcd_cluster.etcd.quorum import ClusterView
from etcd_cluster.settings import Settings

MIB = 1024 * 1024
NOSPACE = "NOSPACE"


def free_bytes(status: MemberStatus) -> int | None:
    """Space inside the DB file that holds no data (None: the member did not say)."""
    if status.db_size is None or status.db_size_in_use is None:
        return None
    return max(status.db_size - status.db_size_in_use, 0)


def defrag_due(status: MemberStatus, settings: Settings) -> bool:
    """Whether the rule asks for this member's defragmentation: free space at least
    ``defrag_free_percent`` of the file and at least ``defrag_free_mb``."""
    free = free_bytes(status)
    if free is None or not status.db_size:
        return False
    share = 100 * free >= settings.defrag_free_percent * status.db_size
    return share and free >= settings.defrag_free_mb * MIB


def due_reason(status: MemberStatus) -> str:
    """What the plan says of a member the rule picks."""
    free = free_bytes(status) or 0
    percent = 100 * free // (status.db_size or 1)
    return (
        f"{status.member.host}: defragment {status.member.name} "
        f"({size_text(free)} of {size_text(status.db_size)} free, {percent}%)"
    )


def nospace_active(view: ClusterView) -> bool:
    return any(alarm == NOSPACE for _, alarm in view.alarms)


def nospace_refusals(view: ClusterView, recover: bool) -> list[str]:
    """Why a run must not go on (empty: it may): NOSPACE stops every write, so nothing
    the run would change can work until the space is back."""
    if not nospace_active(view) or recover:
        return []
    return [
        "the etcd cluster has an active NOSPACE alarm (the DB reached quota-backend-bytes): "
        "every write is refused. Recover with --data etcd_nospace_recover=yes (compacts to "
        "the current revision, defragments one member at a time, disarms the alarm, checks "
        "a write; nothing written is lost), and raise quota-backend-bytes in etcd_extra_args "
        "if the data itself is that large"
    ]


@dataclass(frozen=True)
class Maintenance:
    """What the survey's probe asks of this run: members to defragment, a recovery."""

    due: tuple[str, ...] = ()  # hosts the rule picks, in inventory order
    reasons: tuple[str, ...] = ()
    nospace: bool = False  # NOSPACE is active and etcd_nospace_recover=yes

    @property
    def wanted(self) -> bool:
        return self.nospace or bool(self.due)


def maintenance(view: ClusterView | None, settings: Settings) -> Maintenance:
    """What the run must do, from the survey's view (None: no cluster yet)."""
    if view is None:
        return Maintenance()
    if settings.nospace_recover and nospace_active(view):
        return Maintenance(
            reasons=("NOSPACE alarm: compact, defragment every member, disarm",), nospace=True
        )
    due = [s for s in view.statuses if defrag_due(s, settings)]
    return Maintenance(tuple(s.member.host for s in due), tuple(due_reason(s) for s in due))


def tolerate_statuses(statuses: Sequence[MemberStatus]) -> tuple[MemberStatus, ...]:
    """etcd's /health fails on every member while NOSPACE is active: during a recovery a
    member counts as healthy when its status names a leader."""
    return tuple(
        replace(s, healthy=True, error="")
        if not s.healthy and s.leader_id not in ("", "0") and s.member_id
        else s
        for s in statuses
    )


def tolerate_nospace(view: ClusterView) -> ClusterView:
    """The view a recovery judges quorum by: health as ``tolerate_statuses`` says, and
    without the NOSPACE alarm it clears (any other alarm still refuses)."""
    alarms = tuple((m, a) for m, a in view.alarms if a != NOSPACE)
    return replace(view, statuses=tolerate_statuses(view.statuses), alarms=alarms)


def alone(view: ClusterView) -> bool:
    """A cluster of one voting member and no alarm: its defragmentation keeps no quorum
    (there is none without it) and writes wait for it a moment, so no gate applies."""
    voters = [live for live in view.members if not live.is_learner]
    return len(voters) == 1 and not view.alarms and not view.alarm_error


def in_pass(pass_name: str, status: MemberStatus | None) -> bool:
    """Whether a member is defragmented in ``pass_name`` ("followers", then "leader")."""
    if pass_name == "followers":
        return status is not None and not status.is_leader
    return True


def new_leader(view: ClusterView, leader: MemberStatus) -> str:
    """The member id to move leadership to: a healthy voter that is not the leader
    ("" none: the leader is defragmented as it is, and etcd elects another)."""
    voters = {live.member_id for live in view.members if not live.is_learner}
    for s in view.statuses:
        if s.healthy and s.member_id in voters and s.member_id != leader.member_id:
            return s.member_id
    return ""
