"""Cluster health as seen from one member: probe script, parsing, verdict and table.

The probe uses curl against etcd's own HTTP endpoints (``/health`` and the gRPC
gateway's ``/v3/maintenance/status``) with the healthcheck-client certificate, so
it needs neither etcdctl on the host nor a container runtime. Each endpoint is
asked by its address: the guide's ``listen-client-urls`` drops 127.0.0.1.
"""

from __future__ import annotations

import datetime
import json
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from etcd_cluster import scripts
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_HEALTHCHECK_CLIENT
from etcd_cluster.etcd.cluster import Cluster, Member


def probe_script(cluster: Cluster, timeout: int = 3, with_members: bool = False) -> str:
    """One line per member: endpoint, /health body, status body (tab separated), all
    endpoints asked at once (``scripts/probe_cluster.sh``), so the probe takes as long for
    seven members as for three.

    ``with_members`` adds the live member list and the active alarms, asked of the
    first endpoint that answers: lines ``members<TAB>endpoint<TAB>body`` and
    ``alarms<TAB>endpoint<TAB>body`` (what the restart gate needs).
    """
    pki = cluster.settings.pki_dir
    return scripts.command(
        "probe_cluster",
        timeout,
        ETCD_CA.cert_path(pki),
        ETCD_HEALTHCHECK_CLIENT.cert_path(pki),
        ETCD_HEALTHCHECK_CLIENT.key_path(pki),
        "members" if with_members else "",
        *cluster.client_endpoints,
    )


def _curl(cluster: Cluster, timeout: int) -> str:
    """curl with the healthcheck client certificate (-g: [IPv6] brackets are not globs)."""
    pki = cluster.settings.pki_dir
    return " ".join(
        [
            "curl -gsS",
            f"--max-time {timeout}",
            f"--cacert {shlex.quote(ETCD_CA.cert_path(pki))}",
            f"--cert {shlex.quote(ETCD_HEALTHCHECK_CLIENT.cert_path(pki))}",
            f"--key {shlex.quote(ETCD_HEALTHCHECK_CLIENT.key_path(pki))}",
        ]
    )


def api_command(cluster: Cluster, endpoint: str, path: str, body: dict, timeout: int = 10) -> str:
    """A call to etcd's gRPC gateway (``/v3/cluster/member/add`` and the like) as JSON."""
    data = shlex.quote(json.dumps(body, separators=(",", ":")))
    return f"{_curl(cluster, timeout)} -X POST -d {data} {shlex.quote(endpoint + path)}"


def cluster_version_script(cluster: Cluster, timeout: int = 3) -> str:
    """etcd's ``/version`` of the first member: the server's and the cluster's version."""
    return f"{_curl(cluster, timeout)} {shlex.quote(cluster.client_endpoints[0] + '/version')}"


def parse_cluster_version(text: str) -> str:
    """``{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}`` -> "3.5.0" ("" when unknown)."""
    return str(json_object(text).get("etcdcluster", ""))


@dataclass(frozen=True)
class MemberStatus:
    """What one member's endpoint answered."""

    member: Member
    endpoint: str
    healthy: bool
    error: str
    member_id: str
    leader_id: str
    version: str
    db_size: int | None
    answered: bool = True  # etcd itself answered /health (healthy or not), not a curl error
    revision: int | None = None  # the store's revision this member has applied
    db_size_in_use: int | None = None  # of db_size, what holds data (the rest: fragmentation)

    @property
    def is_leader(self) -> bool:
        return bool(self.member_id) and self.member_id == self.leader_id


def parse_probe(cluster: Cluster, lines: Sequence[str]) -> list[MemberStatus]:
    """Turn the probe's lines into one status per member (missing lines: unreachable)."""
    by_endpoint = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            by_endpoint[parts[0]] = (parts[1], parts[2])
    result = []
    for member, endpoint in zip(cluster.members, cluster.client_endpoints, strict=True):
        health_text, status_text = by_endpoint.get(endpoint, ("no answer", "no answer"))
        health = json_object(health_text)
        status = json_object(status_text)
        healthy = str(health.get("health", "")).lower() == "true"
        header = status.get("header", {}) if isinstance(status.get("header"), dict) else {}
        error = "" if healthy else (health.get("reason") or health_text or "no answer")
        result.append(
            MemberStatus(
                member=member,
                endpoint=endpoint,
                healthy=healthy,
                error=str(error)[:200],
                member_id=str(header.get("member_id", "")),
                leader_id=str(status.get("leader", "")),
                version=str(status.get("version", "")),
                db_size=_number(status.get("dbSize")),
                answered=bool(health),
                revision=_number(header.get("revision")),
                db_size_in_use=_number(status.get("dbSizeInUse")),
            )
        )
    return result


def _number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def json_object(text: str) -> dict:
    """A JSON object from etcd's gateway, or {} for anything else (errors, curl messages)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def problems(statuses: Sequence[MemberStatus]) -> list[str]:
    """Why the cluster is not (yet) healthy: every member healthy, one leader all agree on."""
    found = [
        f"member {s.member.name} ({s.member.host}, {s.endpoint}) is not healthy: {s.error}"
        for s in statuses
        if not s.healthy
    ]
    member_ids = {s.member_id for s in statuses if s.member_id}
    leaders = {s.leader_id for s in statuses if s.healthy}
    if not found and (len(leaders) != 1 or not leaders <= member_ids or "0" in leaders):
        found.append(f"members do not agree on one leader (reported: {sorted(leaders)})")
    return found


def unhealthy_members(statuses: Sequence[MemberStatus]) -> list[Member]:
    return [s.member for s in statuses if not s.healthy]


# The status table's columns, shared with status.py's report (cluster_report.table).
MEMBER_COLUMNS = ("NAME", "ENDPOINT", "HEALTHY", "LEADER", "VERSION", "DB SIZE")
SNAPSHOT_COLUMNS = ("LATEST SNAPSHOT", "AGE", "LAST BACKUP")


def format_table(
    statuses: Sequence[MemberStatus],
    expiries: dict[str, datetime.datetime],
    snapshots: dict[str, tuple[str, str, str]] | None = None,
    learners: Collection[str] = (),
) -> str:
    """The status table printed at the end of a deploy, one row per member.

    ``snapshots`` (``{host: (latest snapshot file, age, last backup run)}``) adds three
    columns; members
    named in ``learners`` show "learner" as their role in the LEADER column.
    """
    header: tuple[str, ...] = (*MEMBER_COLUMNS, "EARLIEST CERT EXPIRY")
    if snapshots is not None:
        header += SNAPSHOT_COLUMNS
    rows = [header]
    for s in statuses:
        expiry = expiries.get(s.member.host)
        row: tuple[str, ...] = (
            s.member.name,
            s.endpoint,
            "yes" if s.healthy else "NO",
            "learner" if s.member.name in learners else "yes" if s.is_leader else "no",
            s.version or "-",
            size_text(s.db_size),
            f"{expiry:%Y-%m-%d %H:%M} UTC" if expiry else "-",
        )
        if snapshots is not None:
            row += snapshots.get(s.member.host, ("-", "-", "-"))
        rows.append(row)
    return aligned(rows)


def aligned(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells as left-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def size_text(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
