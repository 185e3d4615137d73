"""Scheduled snapshots: file names, retention, what the member's files say, and the age
shown in the status table. Pure functions; ``tasks/start_etcd.py`` installs the files,
beside etcd's own unit.

Each member snapshots itself (its own endpoint), so every member holds recent
snapshots of its own and a restore can start from any survivor's.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import posixpath
import re
import shlex
from collections.abc import Collection, Mapping
from typing import Any

from etcd_cluster import scripts
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_HEALTHCHECK_CLIENT
from etcd_cluster.engine.observe import Observation
from etcd_cluster.engine.templates import render
from etcd_cluster.etcd import release
from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.runtime import SYSTEMD_UNIT
from etcd_cluster.settings import Settings

SCRIPT_TEMPLATE = "templates/usr/local/lib/etcd-deploy/etcd-backup.sh.j2"
SERVICE_TEMPLATE = "templates/etc/systemd/system/etcd-backup.service.j2"
TIMER_TEMPLATE = "templates/etc/systemd/system/etcd-backup.timer.j2"
SCRIPT_PATH = "/usr/local/lib/etcd-deploy/etcd-backup.sh"
SERVICE = "etcd-backup.service"
TIMER = "etcd-backup.timer"
SERVICE_PATH = f"/etc/systemd/system/{SERVICE}"
TIMER_PATH = f"/etc/systemd/system/{TIMER}"

RCLONE_CONFIG_DIR = "/etc/etcd-backup"
RCLONE_CONFIG = f"{RCLONE_CONFIG_DIR}/rclone.conf"  # the operator's, mode 600: never shown
PACKAGED_ETCDCTL = "/usr/bin/etcdctl"  # where Debian's etcd-client puts etcdctl
ETCDCTL_PACKAGE = "etcd-client"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(
    r"etcd-snapshot-(?P<member>.+)-(?P<stamp>\d{8}T\d{6}Z)(?P<label>-before-.+)?\.db"
)


def describe(settings: Settings) -> str:
    """What the snapshot schedule's items are, for the operation that puts them in place."""
    return (
        f"snapshot directory {settings.backup_dir} (root only: snapshots hold every Secret), "
        f"the snapshot script, {SERVICE} and {TIMER} ({settings.backup_schedule}) enabled "
        "and active, no drop-in changing what they run"
    )


def snapshot_name(member: str, when: datetime.datetime) -> str:
    """``etcd-snapshot-<member>-<UTC time>.db``."""
    return f"etcd-snapshot-{member}-{when.astimezone(datetime.UTC):{_STAMP}}.db"


def snapshot_time(name: str) -> datetime.datetime | None:
    """The UTC time in a scheduled snapshot's file name (None: not a scheduled snapshot)."""
    match = _NAME.fullmatch(name)
    if not match or match["label"]:
        return None
    return datetime.datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=datetime.UTC)


def etcdctl(settings: Settings) -> str:
    """The etcdctl snapshots and restores use: the chosen release's (``etcd_version``),
    else ``etcdctl_binary``."""
    if settings.etcd_version:
        return posixpath.join(release.install_dir(settings.etcd_version), "etcdctl")
    return settings.etcdctl_binary


def etcdutl_path(settings: Settings) -> str:
    """etcdutl is looked for next to etcdctl first (upstream archives ship them together)."""
    return posixpath.join(posixpath.dirname(etcdctl(settings)), "etcdutl")


def script_context(cluster: Cluster, member: Member) -> dict[str, Any]:
    """The backup script's settings, each already quoted for the shell."""
    s = cluster.settings
    q = shlex.quote
    return {
        "member_name": q(member.name),
        "backup_dir": q(s.backup_dir),
        "keep": s.backup_keep,
        "hourly": s.backup_keep_hourly,
        "daily": s.backup_keep_daily,
        "weekly": s.backup_keep_weekly,
        "keep_before_change": s.backup_keep_before_change,
        "tiers_script": q(scripts.text("snapshot_tiers")),
        "endpoint": q(member.client_url(s.client_port)),
        "cacert": q(ETCD_CA.cert_path(s.pki_dir)),
        "cert": q(ETCD_HEALTHCHECK_CLIENT.cert_path(s.pki_dir)),
        "key": q(ETCD_HEALTHCHECK_CLIENT.key_path(s.pki_dir)),
        "etcdctl": q(etcdctl(s)),
        "etcdutl": q(etcdutl_path(s)),
        "remote": q(s.backup_remote),
        "remote_text": s.backup_remote,
        "rclone_config": RCLONE_CONFIG,
        "recipients": [q(r) for r in s.backup_age_recipients],
        "cluster": q(s.cluster_name),
        "ca_cert": q(ETCD_CA.cert_path(s.pki_dir)),
        "ca_key": q(ETCD_CA.key_path(s.pki_dir)),
        "cluster_json": q(cluster_json(cluster, member)),
    }


# Filled in by the script when it seals an archive (archive-format.md's cluster.json).
TAKEN_AT, ETCD_VERSION = "@TAKEN_AT@", "@ETCD_VERSION@"


def cluster_json(cluster: Cluster, member: Member) -> str:
    """cluster.json of ``member``'s archives: who, the members, and the non-secret
    settings the deploy ran with under their data keys (no setting holds a secret:
    files are named by path), with TAKEN_AT and ETCD_VERSION for the script to fill."""
    s = cluster.settings
    return json.dumps(
        {
            "cluster": s.cluster_name,
            "member": member.name,
            "taken_at": TAKEN_AT,
            "etcd_version": ETCD_VERSION,
            "members": [
                {
                    "name": m.name,
                    "peer_url": m.peer_url(s.peer_port),
                    "client_url": m.client_url(s.client_port),
                }
                for m in cluster.members
            ],
            "settings": archived_settings(s),
        },
        sort_keys=True,
    )


_PAIRS = ("extra_args",)  # tuples of pairs: JSON objects
_DATA_KEYS = {  # the settings not named by the rule
    "kubernetes_version": "etcd_kubernetes_version",
    "kubeadm_config_path": "etcd_kubeadm_config_path",
    "backup_age_recipients": "etcd_backup_age_recipient",
}


def archived_settings(settings: Settings) -> dict[str, Any]:
    """``{data key: value}`` of every setting but the run's own notices."""
    found: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == "notices":
            continue
        key = f.name if f.name.startswith(("etcd", "kube")) else f"etcd_{f.name}"
        key = _DATA_KEYS.get(f.name, key)
        if f.name == "etcd_archive_sha256":  # (version, arch, sha): {version: {arch: sha}}
            found[key] = {v: {a: sha for w, a, sha in value if w == v} for v, _, _ in value}
            continue
        found[key] = (
            dict(value) if f.name in _PAIRS else list(value) if isinstance(value, tuple) else value
        )
    return found


def offsite_tools(settings: Settings) -> list[str]:
    """rclone (and age, with a recipient) when off-host copies are set: Debian packages
    of the same names, installed only then."""
    wanted = ["rclone"] * bool(settings.backup_remote)
    return wanted + ["age"] * bool(settings.backup_remote and settings.backup_age_recipients)


def backup_packages(settings: Settings, present: Collection[str]) -> list[str]:
    """The Debian packages snapshots need on a member: etcdctl's (``etcdctl_package``),
    and rclone and age for off-host copies, when missing and apt-get is there."""
    offsite = [tool for tool in offsite_tools(settings) if tool not in present]
    return etcdctl_package(settings, present) + (offsite if "apt-get" in present else [])


def snapshot_command(cluster: Cluster, member: Member, label: str) -> str:
    """The backup script, as the timer runs it, for one snapshot named with ``label`` and
    never pruned (the deploy's own, before an upgrade or a membership change; it does not
    depend on the script being installed yet)."""
    script = render(SCRIPT_TEMPLATE, **script_context(cluster, member))
    return f"sh -c {shlex.quote(script)} etcd-backup {shlex.quote(label)}"


def unit_context(cluster: Cluster, member: Member) -> dict[str, Any]:
    """etcd-backup.service and .timer (systemd units: no shell quoting, values are checked)."""
    s = cluster.settings
    return {
        "member_name": member.name,
        "backup_dir_text": s.backup_dir,
        "script_path": SCRIPT_PATH,
        "schedule": s.backup_schedule,
        "after": f" {SYSTEMD_UNIT}.service" if s.runtime == "systemd" else "",
    }


def etcdctl_package(settings: Settings, present: Collection[str]) -> list[str]:
    """Debian's etcd-client when etcdctl is missing and the package would provide it
    (a chosen ``etcd_version`` brings its own etcdctl and etcdutl)."""
    if (
        settings.etcd_version
        or settings.etcdctl_binary in present
        or settings.etcdctl_binary != PACKAGED_ETCDCTL
    ):
        return []
    return [ETCDCTL_PACKAGE] if "apt-get" in present else []


def etcdctl_missing(settings: Settings, present: Collection[str]) -> list[str]:
    """etcdctl is needed for snapshots and restores, rclone and age for off-host copies;
    say how to get them when they cannot be had."""
    offsite = [
        f"{tool} (etcd_backup_remote: off-host copies need it; no apt-get to install "
        f"Debian's {tool}: install it on the host)"
        for tool in offsite_tools(settings)
        if tool not in present and "apt-get" not in present
    ]
    return offsite + _etcdctl_missing(settings, present)


def _etcdctl_missing(settings: Settings, present: Collection[str]) -> list[str]:
    if settings.etcd_version or settings.etcdctl_binary in present:
        return []
    if etcdctl_package(settings, present):
        return []
    return [
        f"{settings.etcdctl_binary} (etcdctl_binary: scheduled snapshots and restores need "
        f"etcdctl; install Debian's {ETCDCTL_PACKAGE} or point etcdctl_binary at one; "
        f"only {PACKAGED_ETCDCTL} is installed automatically, with apt-get)"
    ]


def format_age(seconds: float | None) -> str:
    """A short age for the status table: 45s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return "-"
    total = max(int(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes, hours, days = total // 60, total // 3600, total // 86400
    if hours == 0:
        return f"{minutes}m"
    if days == 0:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


# A scheduled run may start up to the timer's RandomizedDelaySec (60 s) late and take up
# to the snapshot's --command-timeout (300 s): only later than that has a run been missed.
LATE_AFTER = 60 + 300


def is_stale(observation: Observation) -> bool:
    """The schedule came due twice since the newest snapshot (or, with none, since the
    timer started) and no snapshot came of it: two runs missed, or failed."""
    clock, due = observation.clock, observation.backup_due
    return clock is not None and due is not None and clock > due + LATE_AFTER


def last_run_failed(observation: Observation) -> bool:
    """The last etcd-backup.service run failed (systemd's Result, or its exit status)."""
    result, status = observation.backup_result, observation.backup_exit_status
    return result not in {"", "success"} or status not in {"", "0"}


def latest_snapshots(observations: Mapping[str, Observation]) -> dict[str, tuple[str, str, str]]:
    """``{host: (latest snapshot file, its age, the last backup run)}`` for the status table,
    from what each member reported when the run started (its newest snapshot's mtime, its
    own clock); an age past two schedule intervals says "(old)"."""
    result = {}
    for host, o in observations.items():
        age = None
        if o.clock is not None and o.latest_snapshot_mtime is not None:
            age = o.clock - o.latest_snapshot_mtime
        age_text = format_age(age) if o.latest_snapshot else "-"
        if is_stale(o):
            age_text += " (old)"
        ran = "FAILED" if last_run_failed(o) else "ok" if o.backup_exit_at else "-"
        result[host] = (o.latest_snapshot or "-", age_text, ran)
    return result


def backup_warnings(cluster: Cluster, observations: Mapping[str, Observation]) -> list[str]:
    """What the run says about each member's backups: a failed last run, a newest snapshot
    older than two schedule intervals (or none that long after the timer started)."""
    schedule = f"etcd_backup_schedule={cluster.settings.backup_schedule!r}"
    found = []
    for member in cluster.members:
        o = observations.get(member.host)
        if o is None:
            continue
        who = f"member {member.name} ({member.host})"
        if last_run_failed(o):
            when = ""
            if o.backup_exit_at:
                ended = datetime.datetime.fromtimestamp(o.backup_exit_at, datetime.UTC)
                when = f" at {ended:%Y-%m-%d %H:%M} UTC"
            found.append(
                f"{who}: the last {SERVICE} run failed ({o.backup_result or 'exit-code'}, "
                f"exit status {o.backup_exit_status or '?'}{when}); "
                f"`journalctl -u {SERVICE}` on that host says why"
            )
        if is_stale(o) and o.latest_snapshot:
            age = format_age((o.clock or 0) - (o.latest_snapshot_mtime or 0))
            found.append(
                f"{who}: its newest snapshot {o.latest_snapshot} is {age} old, older than two "
                f"intervals of {schedule}"
            )
        elif is_stale(o):
            found.append(
                f"{who}: no snapshot in {cluster.settings.backup_dir} although {TIMER} started "
                f"more than two intervals of {schedule} ago"
            )
    return found
