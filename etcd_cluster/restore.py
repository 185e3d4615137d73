"""Restore the whole cluster from one snapshot: the decisions, as pure functions.

A restore (etcd's disaster-recovery guide) makes a NEW cluster from the snapshot:
every member's data dir is rebuilt with ``snapshot restore`` using its own name and
peer URL, the full initial cluster and a new cluster token (a new cluster ID, so no
member of the old cluster can rejoin it by mistake). The token matters only to
``snapshot restore``: it goes into the restored WAL, and etcd ignores
``--initial-cluster-token``/``--initial-cluster-state`` once a data dir holds a WAL.
So members start from their usual unit or manifest, and a later deploy sees nothing
to change. Old data dirs are moved aside, never deleted.

With ``--bump-revision``/``--mark-compacted`` (etcdutl, or an etcdctl that has them)
revisions keep growing across the restore and watchers from before it are told to
re-list, as Kubernetes needs. Debian's etcdctl 3.4.23 lacks them: the restore still
runs, and the run says to restart every kube-apiserver afterwards.
"""

from __future__ import annotations

import datetime
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from etcd_cluster.cluster import Cluster
from etcd_cluster.errors import DeployInputError
from etcd_cluster.settings import _absolute_path
from etcd_cluster.status import MemberStatus

CONFIRM = "yes"
# etcd's recovery guide: bump by more than the revisions written since the snapshot
# could be; a billion is what the guide uses.
BUMP_REVISION = 1_000_000_000
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class MemberSurvey:
    """What restore needs to know about one member, read before any change."""

    tool: str = ""  # the restore tool's path ("" none)
    kind: str = ""  # "etcdutl" or "etcdctl"
    bump: bool = False  # the tool has --bump-revision and --mark-compacted
    has_data: bool = False  # the data dir exists (it is moved aside)
    data_mount: bool = False  # the data dir is a mount point (its contents are moved aside)
    snapshot_sha256: str = ""  # first member only
    status: dict = field(default_factory=dict)  # `snapshot status -w json` of the snapshot
    status_error: str = ""


def parse_member_survey(lines: Sequence[str]) -> MemberSurvey:
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            values[key] = value.strip()
    try:
        status = json.loads(values.get("status", "") or "{}")
    except ValueError:
        status = {}
    return MemberSurvey(
        tool=values.get("tool", ""),
        kind=values.get("kind", ""),
        bump=values.get("bump") == "yes",
        has_data=values.get("data") == "yes",
        data_mount=values.get("data_mount") == "yes",
        snapshot_sha256=values.get("snapshot_sha256", ""),
        status=status if isinstance(status, dict) else {},
        status_error=values.get("status_error", ""),
    )


def snapshot_path(value: object) -> str:
    """``etcd_restore_snapshot``: an absolute path on the first member."""
    if not value:
        raise DeployInputError(
            "etcd_restore_snapshot is not set: give the path of a snapshot on the first member, "
            "e.g. --data etcd_restore_snapshot=/var/backups/etcd/etcd-snapshot-infra0-....db"
        )
    return _absolute_path("etcd_restore_snapshot", value)


def confirm_refusal(value: object) -> str:
    """Why the restore must not run ("" when confirmed)."""
    if value == CONFIRM:
        return ""
    return (
        f"etcd_restore_confirm={value!r}: a restore takes the whole cluster back to the "
        "snapshot (every write since is lost); rerun with --data etcd_restore_confirm=yes "
        "(add --dry to see the plan without changing anything)"
    )


def stamp(now: datetime.datetime) -> str:
    return f"{now.astimezone(datetime.UTC):{_STAMP}}"


def new_token(now: datetime.datetime) -> str:
    """The restored cluster's token: new, so its cluster ID differs from the old one's."""
    return f"etcd-restore-{stamp(now)}"


def aside_path(data_dir: str, now: datetime.datetime) -> str:
    """Where the old data dir goes (kept, never deleted)."""
    return f"{data_dir}.before-restore-{stamp(now)}"


def inner_aside_path(data_dir: str, now: datetime.datetime) -> str:
    """Where the old data goes when the data dir is a mount point (a dedicated disk): a
    mount point cannot be renamed, so its contents move into this directory inside it."""
    return f"{data_dir}/.before-restore-{stamp(now)}"


def staged_path(backup_dir: str, token: str) -> str:
    """Where the other members receive their copy of the snapshot (removed once restored)."""
    return posixpath.join(backup_dir, f".{token}.db")


def bump_revision(surveys: Mapping[str, MemberSurvey]) -> int:
    """Every member must restore to the same revisions: bump only if all tools can."""
    return BUMP_REVISION if surveys and all(s.bump for s in surveys.values()) else 0


def refusals(cluster: Cluster, snapshot: str, surveys: Mapping[str, MemberSurvey]) -> list[str]:
    """Why the restore cannot start (checked before any member changes)."""
    first = cluster.first
    found = []
    survey = surveys[first.host]
    if survey.status_error or not survey.status:
        found.append(
            f"host {first.host}: snapshot {snapshot} cannot be used: "
            f"{survey.status_error or 'snapshot status gave no revision'}"
        )
    for member in cluster.members:
        if not surveys[member.host].tool:
            found.append(
                f"host {member.host} (etcd member {member.name}): no etcdutl and no etcdctl at "
                f"{cluster.settings.etcdctl_binary} (etcdctl_binary) to restore with"
            )
    return found


def plan_lines(
    cluster: Cluster,
    snapshot: str,
    surveys: Mapping[str, MemberSurvey],
    token: str,
    aside: str,
    inner: str = "",
) -> list[str]:
    """The restore plan, as printed before anything changes (and by ``--dry``)."""
    s = cluster.settings
    status = surveys[cluster.first.host].status
    bump = bump_revision(surveys)
    lines = [
        f"restore the whole cluster from {cluster.first.host}:{snapshot} "
        f"(revision {status.get('revision', '?')}, {status.get('totalKey', '?')} keys, "
        f"{status.get('totalSize', '?')} bytes); every write after it is lost",
        f"new cluster token {token}; initial cluster {cluster.initial_cluster}",
    ]
    for member in cluster.members:
        survey = surveys[member.host]
        source = "" if member == cluster.first else " (copy received from the first member)"
        old = f"move {s.data_dir} aside to {aside}" if survey.has_data else "no data dir"
        if survey.data_mount:
            old = (
                f"move the contents of {s.data_dir} aside to {inner} "
                f"({s.data_dir} is a mount point: it stays)"
            )
        lines.append(
            f"{member.host}: stop etcd; {old}; {survey.kind} snapshot restore{source} as "
            f"{member.name}"
        )
    lines.append("start every member together; wait for a healthy cluster with one leader")
    if bump:
        lines.append(f"revisions bumped by {bump} and marked compacted (watchers re-list)")
    else:
        lines.append(
            "WARNING: the restore tool here has no --bump-revision/--mark-compacted "
            "(e.g. Debian's etcdctl 3.4.23): revisions go back to the snapshot's; restart every "
            "kube-apiserver after the restore so that no watcher keeps newer revisions"
        )
    return lines


def live_lines(live: Sequence[MemberStatus], snapshot_status: Mapping) -> list[str]:
    """The live cluster next to the snapshot, before anything changes: its health, its
    revision and the snapshot's, and how many revisions the restore takes back."""
    healthy = [s for s in live if s.healthy]
    leaders = sorted({s.member.name for s in live if s.is_leader})
    revisions = [s.revision for s in live if s.revision is not None]
    wanted = snapshot_status.get("revision")
    snapshot = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) else None
    state = f"{len(healthy)}/{len(live)} members healthy"
    state += f", leader {', '.join(leaders)}" if leaders else ", no leader"
    if not revisions:
        return [
            f"live cluster: {state}; no member answers with its revision (quorum lost?): "
            f"the snapshot's revision is {snapshot if snapshot is not None else '?'}, "
            "how many revisions are lost cannot be told"
        ]
    current = max(revisions)
    line = f"live cluster: {state}, revision {current}; the snapshot's revision is "
    if snapshot is None:
        return [line + "unknown: how many revisions are lost cannot be told"]
    if current < snapshot:
        return [
            line + f"{snapshot}, NEWER than the live cluster's: is it a snapshot of this cluster?"
        ]
    return [line + f"{snapshot}: {current - snapshot} revision(s) written since it will be lost"]
