"""Where restore.py's snapshot comes from: a path on the first member, an rclone remote
(``REMOTE:PATH``), or an encrypted backup archive (``*.tar.age``, docs/design.md).

Remote copies and archives are fetched onto the first member into a root-only staging
directory (``restore_fetch.sh``), with the operator's rclone config and age identity sent
through the quiet channel into a tmpfs directory that the script removes whatever
happens: the hosts that write the backups never hold the key that opens them, except
for the few seconds a restore decrypts one. These are the pure parts.
"""

from __future__ import annotations

import base64
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from etcd_cluster.backup.restore import json_object, script_fields
from etcd_cluster.errors import DeployInputError
from etcd_cluster.settings import _absolute_path

ARCHIVE_SUFFIX = ".tar.age"
SECRETS_PARENT = "/run"  # a tmpfs: the identity and rclone config never reach a disk
_STAGE = ".restore-stage"
# rclone's REMOTE:PATH (a configured remote's name, then a path on it)
_REMOTE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*:[^\s'\"`$\\]*")


@dataclass(frozen=True)
class Source:
    """``etcd_restore_snapshot``, read."""

    location: str
    remote: bool  # REMOTE:PATH, fetched with rclone
    archive: bool  # an age-encrypted tar of snapshot, PKI and cluster.json

    @property
    def staged(self) -> bool:
        """Whether it is fetched into the staging directory (a local bare snapshot is not)."""
        return self.remote or self.archive


def parse_source(value: object) -> Source:
    """``etcd_restore_snapshot``: an absolute path on the first member, or REMOTE:PATH."""
    if not value:
        raise DeployInputError(
            "etcd_restore_snapshot is not set: give the path of a snapshot on the first member "
            "(e.g. /var/backups/etcd/etcd-snapshot-infra0-....db) or an rclone REMOTE:PATH "
            f"of an off-host copy (a bare .db or an encrypted {ARCHIVE_SUFFIX} archive)"
        )
    text = str(value)
    if not text.startswith("/") and _REMOTE.fullmatch(text):
        return Source(text, remote=True, archive=text.endswith(ARCHIVE_SUFFIX))
    location = _absolute_path("etcd_restore_snapshot", value)
    return Source(location, remote=False, archive=location.endswith(ARCHIVE_SUFFIX))


def stage_dir(backup_dir: str) -> str:
    """Where the fetched snapshot and PKI wait on the first member (root only, removed after)."""
    return posixpath.join(backup_dir, _STAGE)


def operator_file(key: str, value: object, needed_for: str) -> bytes:
    """A file the operator keeps on the controller (rclone config, age identity), read into
    memory only; refused when unset or unreadable, naming the setting."""
    if not value:
        raise DeployInputError(f"{key} is not set: {needed_for} needs it (a file on this machine)")
    try:
        return Path(str(value)).expanduser().read_bytes()
    except OSError as error:
        raise DeployInputError(f"{key}={value!r}: cannot read it: {error.strerror}") from None


def secrets_payload(rclone_config: bytes | None, identity: bytes | None) -> bytes:
    """``restore_fetch.sh fetch``'s stdin: one base64 line each ("-": none)."""
    lines = [base64.b64encode(v).decode() if v else "-" for v in (rclone_config, identity)]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Fetched:
    """What ``restore_fetch.sh fetch`` staged on the first member."""

    snapshot: str = ""
    ca_crt: bool = False
    ca_key: bool = False
    info: dict = field(default_factory=dict)  # cluster.json (no secrets in it)


def parse_fetched(lines: Sequence[str]) -> Fetched:
    values = script_fields(lines)
    return Fetched(
        snapshot=values.get("snapshot", ""),
        ca_crt=values.get("ca_crt") == "yes",
        ca_key=values.get("ca_key") == "yes",
        info=json_object(values.get("cluster_json", "")),
    )


def describe(source: Source, fetched: Fetched) -> str:
    """One line on what was fetched (the archive's own account of itself)."""
    kind = "encrypted archive" if source.archive else "snapshot"
    where = "remote" if source.remote else "first member's"
    line = f"fetched the {where} {kind} {source.location}"
    info = fetched.info
    if info:
        line += (
            f": cluster {info.get('cluster', '?')}, member {info.get('member', '?')}, taken "
            f"{info.get('taken_at', '?')} with etcd {info.get('etcd_version', '?')}"
        )
    return line


def pki_lines(source: Source, fetched: Fetched, new_hosts: bool, first_host: str) -> list[str]:
    """What happens to the PKI (new hosts only: an existing cluster keeps its own)."""
    if not fetched.ca_crt and not fetched.ca_key:
        return []  # a bare snapshot: the deploy's steps keep the hosts' CA or make one (says so)
    if not new_hosts:
        return ["the members keep their PKI (the archive's is used only on new hosts)"]
    if not fetched.ca_key:
        raise DeployInputError(
            f"{source.location} holds ca.crt but no ca.key (an archive of a member other than "
            "the first): restore from the first member's archive, which carries the CA"
        )
    return [
        "PKI: the archive's etcd CA (control planes keep trusting it); member "
        f"certificates issued from it for these hosts; ca.key on {first_host} only"
    ]


def new_hosts(has_data: Sequence[bool]) -> bool:
    """Hosts that never ran etcd (every old member gone): no member holds etcd data."""
    return not any(has_data)
