"""status.py's report: one row per member, as a table and as JSON, and the exit verdict.

Pure functions over what the survey read (``MemberReport`` per member, the first
reachable member's probe), so the rows, the JSON shape and the verdict are unit-tested
without hosts. The table and the JSON come from the same rows: a monitor reads what
the operator sees.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from etcd_cluster.backup import schedule as backup
from etcd_cluster.certs.certlist import ALL_CERTS
from etcd_cluster.engine.observe import Observation
from etcd_cluster.engine.remote import RemoteFile
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.defrag import defrag_due
from etcd_cluster.etcd.health import (
    MEMBER_COLUMNS,
    SNAPSHOT_COLUMNS,
    MemberStatus,
    aligned,
    problems,
    size_text,
)
from etcd_cluster.etcd.quorum import ClusterView, live_member_of


@dataclass(frozen=True)
class MemberFacts:
    """What one member's survey said (None: the host could not be surveyed)."""

    files: Mapping[str, RemoteFile]
    observation: Observation
    run_lock: str = ""  # who holds the run lock here ("" nobody): a run is going on


def earliest_expiry(cluster: Cluster, files: Mapping[str, RemoteFile]) -> tuple[str, Any]:
    """The certificate of this host that expires first: (its path, its notAfter)."""
    pki = cluster.settings.pki_dir
    found: list[tuple[datetime.datetime, str]] = []
    for spec in ALL_CERTS:
        read = files.get(spec.cert_path(pki))
        if read is None or not read.content:
            continue
        try:
            cert = x509.load_pem_x509_certificate(read.content)
        except ValueError:
            continue
        found.append((cert.not_valid_after_utc, spec.cert_path(pki)))
    if not found:
        return "", None
    when, path = min(found)
    return path, when


def _fragmentation(s: MemberStatus) -> float | None:
    """Percent of the DB file that holds no data (what a defragmentation would return)."""
    if not s.db_size or s.db_size_in_use is None:
        return None
    return round(100 * (s.db_size - s.db_size_in_use) / s.db_size, 1)


def member_rows(
    cluster: Cluster,
    view: ClusterView,
    facts: Mapping[str, MemberFacts | None],
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """One JSON-ready row per inventory member, in inventory order."""
    s = cluster.settings
    names = {st.member_id: st.member.name for st in view.statuses if st.member_id}
    rows = []
    for st in view.statuses:
        member = st.member
        live = live_member_of(view, member, member.peer_url(s.peer_port))
        found = facts.get(member.host)
        path, expiry = earliest_expiry(cluster, found.files) if found else ("", None)
        o = found.observation if found else None
        age = None
        if o and o.latest_snapshot and o.clock is not None and o.latest_snapshot_mtime:
            age = max(o.clock - o.latest_snapshot_mtime, 0.0)
        ran = None
        if o is not None:
            ran = "failed" if backup.last_run_failed(o) else "ok" if o.backup_exit_at else None
        rows.append(
            {
                "name": member.name,
                "host": member.host,
                "endpoint": st.endpoint,
                "reachable": found is not None,
                "healthy": st.healthy,
                "error": st.error,
                "leader": st.is_leader,
                "learner": bool(live and live.is_learner),
                "in_member_list": live is not None if view.members else None,
                "version": st.version or None,
                "db_size": st.db_size,
                "db_size_in_use": st.db_size_in_use,
                "db_fragmentation_percent": _fragmentation(st),
                "defrag_due": defrag_due(st, s),
                "alarms": sorted(
                    alarm for mid, alarm in view.alarms if mid and names.get(mid) == member.name
                ),
                "cert_expiry": expiry.isoformat() if expiry else None,
                "cert_expiry_file": path or None,
                "cert_expires_in_days": round((expiry - now).total_seconds() / 86400, 1)
                if expiry
                else None,
                "latest_snapshot": (o.latest_snapshot or None) if o else None,
                "snapshot_age_seconds": round(age) if age is not None else None,
                "snapshot_too_old": backup.is_stale(o) if o else None,
                "last_backup": ran,
            }
        )
    return rows


def verdict(
    cluster: Cluster,
    view: ClusterView,
    facts: Mapping[str, MemberFacts | None],
    rows: Sequence[dict[str, Any]],
    now: datetime.datetime,
) -> list[str]:
    """Why status.py exits non-zero (empty: all is well): an unhealthy member or no single
    leader, an active (or unreadable) alarm, a host that could not be surveyed, a
    certificate inside the renewal window, and the backup warnings (a failed last run,
    a newest snapshot older than two schedule intervals)."""
    found = problems(view.statuses)
    ids = {st.member_id: st.member.name for st in view.statuses if st.member_id}
    found += [
        f"alarm {alarm} is active on member {ids.get(m, m or '?')}" for m, alarm in view.alarms
    ]
    if view.alarm_error and any(st.healthy for st in view.statuses):
        found.append(f"the active alarms could not be read: {view.alarm_error}")
    window = datetime.timedelta(days=cluster.settings.renew_before_days)
    for row in rows:
        if not row["reachable"]:
            found.append(f"host {row['host']} (member {row['name']}) could not be surveyed")
        elif row["cert_expiry"] is None:
            found.append(f"member {row['name']} ({row['host']}) has no readable certificate")
        elif datetime.datetime.fromisoformat(row["cert_expiry"]) <= now + window:
            found.append(
                f"member {row['name']} ({row['host']}): {row['cert_expiry_file']} expires "
                f"{row['cert_expiry']}, within etcd_renew_before_days="
                f"{cluster.settings.renew_before_days} (run deploy.py to renew)"
            )
    observations = {host: f.observation for host, f in facts.items() if f is not None}
    return found + backup.backup_warnings(cluster, observations)


def report(
    cluster: Cluster,
    view: ClusterView,
    facts: Mapping[str, MemberFacts | None],
    now: datetime.datetime,
) -> dict[str, Any]:
    """The whole report: what ``--data etcd_status_json=PATH`` writes."""
    rows = member_rows(cluster, view, facts, now)
    found = verdict(cluster, view, facts, rows, now)
    peer_urls = {m.peer_url(cluster.settings.peer_port) for m in cluster.members}
    return {
        "generated_at": now.isoformat(),
        "ok": not found,
        "healthy": not problems(view.statuses),  # every member healthy, one leader
        "problems": found,
        "leader": next((row["name"] for row in rows if row["leader"]), None),
        "members": rows,
        "runs_in_progress": sorted({f.run_lock for f in facts.values() if f and f.run_lock}),
        "other_live_members": [
            {"name": live.name, "id": live.member_id, "learner": live.is_learner}
            for live in view.members
            if not peer_urls & set(live.peer_urls)
        ],
    }


def _age(seconds: int | None, too_old: bool | None) -> str:
    text = backup.format_age(seconds) if seconds is not None else "-"
    return text + " (old)" if too_old else text


def _in_use(row: Mapping[str, Any]) -> str:
    if row["db_size_in_use"] is None:
        return "-"
    free = row["db_fragmentation_percent"]
    due = ", defrag due" if row["defrag_due"] else ""
    return size_text(row["db_size_in_use"]) + (
        f" ({free:.0f}% free{due})" if free is not None else ""
    )


def table(result: Mapping[str, Any]) -> str:
    """The report as the operator reads it: one line per member."""
    header = (*MEMBER_COLUMNS, "IN USE", "ALARMS", "EARLIEST CERT EXPIRY", *SNAPSHOT_COLUMNS)
    lines = [header]
    for row in result["members"]:
        expiry = row["cert_expiry"]
        lines.append(
            (
                row["name"],
                row["endpoint"],
                "yes" if row["healthy"] else "NO" if row["reachable"] else "NO (unreachable)",
                "learner" if row["learner"] else "yes" if row["leader"] else "no",
                row["version"] or "-",
                size_text(row["db_size"]),
                _in_use(row),
                ",".join(row["alarms"]) or "-",
                f"{datetime.datetime.fromisoformat(expiry):%Y-%m-%d %H:%M} UTC" if expiry else "-",
                row["latest_snapshot"] or "-",
                _age(row["snapshot_age_seconds"], row["snapshot_too_old"]),
                {"failed": "FAILED", "ok": "ok"}.get(row["last_backup"] or "", "-"),
            )
        )
    return aligned(lines)
