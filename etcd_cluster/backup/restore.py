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
from dataclasses import dataclass, field, replace

from etcd_cluster.backup.schedule import etcdctl, etcdutl_path
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.health import MemberStatus
from etcd_cluster.settings import Settings

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
    member_data: bool = False  # it holds etcd data (member/): this host ran etcd
    data_mount: bool = False  # the data dir is a mount point (its contents are moved aside)
    snapshot_sha256: str = ""  # first member only
    snapshot_hash: str = ""  # the sha256 etcd appended to the snapshot: "ok", "bad" or "none"
    status: dict = field(default_factory=dict)  # `snapshot status -w json` of the snapshot
    status_error: str = ""


def script_fields(lines: Sequence[str]) -> dict[str, str]:
    """A remote script's ``key:value`` lines."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            values[key] = value.strip()
    return values


def json_object(text: str) -> dict:
    """``text`` as a JSON object; {} when it is none."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def parse_member_survey(lines: Sequence[str]) -> MemberSurvey:
    values = script_fields(lines)
    status = json_object(values.get("status", ""))
    return MemberSurvey(
        tool=values.get("tool", ""),
        kind=values.get("kind", ""),
        bump=values.get("bump") == "yes",
        has_data=values.get("data") == "yes",
        member_data=values.get("member_data") == "yes",
        data_mount=values.get("data_mount") == "yes",
        snapshot_sha256=values.get("snapshot_sha256", ""),
        snapshot_hash=values.get("snapshot_hash", ""),
        status=status,
        status_error=values.get("status_error", ""),
    )


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


def with_release_tool(survey: MemberSurvey, settings: Settings, new_hosts: bool) -> MemberSurvey:
    """On new hosts the deploy's own steps install etcd before the restore: a member without
    a restore tool yet restores with the chosen release's etcdutl (``etcd_version``), whose
    ``snapshot restore`` has --bump-revision/--mark-compacted (checked again before use)."""
    if survey.tool or not new_hosts or not settings.etcd_version:
        return survey
    return replace(survey, tool=etcdutl_path(settings), kind="etcdutl", bump=True)


def refusals(
    cluster: Cluster, snapshot: str, surveys: Mapping[str, MemberSurvey], new_hosts: bool = False
) -> list[str]:
    """Why the restore cannot start (checked before any member changes). On new hosts no
    etcd tool may be there yet to read the snapshot's status: its own hash must then do."""
    first = cluster.first
    found = []
    survey = surveys[first.host]
    if survey.snapshot_hash == "bad":
        found.append(
            f"host {first.host}: snapshot {snapshot} fails its hash check (the sha256 etcd "
            "appended to it does not match): it is damaged or incomplete"
        )
    elif (survey.status_error or not survey.status) and not (
        new_hosts and survey.snapshot_hash == "ok"
    ):
        found.append(
            f"host {first.host}: snapshot {snapshot} cannot be used: "
            f"{survey.status_error or 'snapshot status gave no revision'}"
        )
    for member in cluster.members:
        if not surveys[member.host].tool:
            found.append(
                f"host {member.host} (etcd member {member.name}): no etcdutl and no etcdctl at "
                f"{etcdctl(cluster.settings)} to restore with"
                + (
                    ": set etcd_version (etcd 3.5 or newer ships etcdutl, which the deploy's "
                    "steps install first on new hosts)"
                    if new_hosts
                    else ""
                )
            )
    return found


def plan_lines(
    cluster: Cluster,
    snapshot: str,
    surveys: Mapping[str, MemberSurvey],
    token: str,
    aside: str,
    inner: str = "",
    new_hosts: bool = False,
) -> list[str]:
    """The restore plan, as printed before anything changes (and by ``--dry``)."""
    s = cluster.settings
    status = surveys[cluster.first.host].status
    bump = bump_revision(surveys)
    about = (
        f"revision {status.get('revision', '?')}, {status.get('totalKey', '?')} keys, "
        f"{status.get('totalSize', '?')} bytes"
        if status
        else "its sha256 checked; no etcd tool here yet to read its revision"
    )
    lines = [
        f"restore the whole cluster from {cluster.first.host}:{snapshot} ({about}); "
        "every write after it is lost",
        f"new cluster token {token}; initial cluster {cluster.initial_cluster}",
    ]
    if new_hosts:
        lines.append(
            "new hosts (no member holds etcd data): first the deploy's own steps (packages, "
            "etcd, PKI, an empty cluster started, the backup timer); that empty cluster's "
            "data then goes aside"
        )
    for member in cluster.members:
        survey = surveys[member.host]
        source = "" if member == cluster.first else " (copy received from the first member)"
        old = (
            f"move {s.data_dir} aside to {aside}" if survey.has_data or new_hosts else "no data dir"
        )
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


def live_lines(
    live: Sequence[MemberStatus], snapshot_status: Mapping, new_hosts: bool = False
) -> list[str]:
    """The live cluster next to the snapshot, before anything changes: its health, its
    revision and the snapshot's, and how many revisions the restore takes back."""
    if new_hosts:
        return ["live cluster: none (no member holds etcd data): nothing live is lost"]
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
