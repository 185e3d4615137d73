"""Where restore.py's snapshot comes from: the decisions (pure), and ``restore_fetch.sh``
under a real ``sh`` with real tar.

rclone and age are stand-ins here (the end-to-end test ``test_restore_new_hosts`` runs the
real ones against an sftp server): the stand-in rclone serves ``REMOTE:PATH`` from a
directory and needs its config file; the stand-in age "decrypts" by dropping a header
line when the identity file holds the expected key, and fails as age does otherwise.
Both record the paths they were given, so the tests can check those files are gone.
"""

from __future__ import annotations

import base64
import io
import json
import stat
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from etcd_cluster import scripts
from etcd_cluster.backup import restore_ops as restore_run
from etcd_cluster.backup import restore_source
from etcd_cluster.engine import run_lock_ops
from etcd_cluster.errors import DeployInputError
from tests.unit.conftest import stand_in_tools

IDENTITY = b"AGE-SECRET-KEY-1STANDIN\n"
RCLONE_CONFIG = b"[backups]\ntype = sftp\n"

FAKE_RCLONE = """#!/bin/sh
# Stand-in rclone: "--config C cat -- REMOTE:PATH" prints $STATE/remote/PATH.
[ "$1" = --config ] && [ "$3" = cat ] || exit 2
echo "$2" >>"$STATE/configs"
grep -q '^\\[backups\\]' "$2" || { echo "didn't find section in config file" >&2; exit 1; }
path=${5#backups:}
[ -f "$STATE/remote/$path" ] || { echo "object not found" >&2; exit 3; }
exec cat "$STATE/remote/$path"
"""

FAKE_AGE = """#!/bin/sh
# Stand-in age: "-d -i IDENTITY" drops the first line when IDENTITY is the right key.
[ "$1 $2" = "-d -i" ] || exit 2
echo "$3" >>"$STATE/identities"
grep -q AGE-SECRET-KEY-1STANDIN "$3" || {
    echo "age: error: no identity matched any of the recipients" >&2; exit 1; }
read -r header
[ "$header" = age-encryption.org/v1 ] || { echo "age: error: parsing age header" >&2; exit 1; }
cat
"""


def archive(with_key: bool = True) -> bytes:
    """A backup archive as the format says (then "encrypted" for the stand-in age)."""
    members = {
        "snapshot.db": b"snapshot bytes",
        "pki/etcd/ca.crt": b"CERT",
        "cluster.json": json.dumps({"cluster": "prod", "member": "infra0"}, indent=1).encode(),
    }
    if with_key:
        members["pki/etcd/ca.key"] = b"KEY"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return b"age-encryption.org/v1\n" + buffer.getvalue()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    tools = stand_in_tools(tmp_path, rclone=FAKE_RCLONE, age=FAKE_AGE)
    remote = Path(tools["STATE"]) / "remote"
    remote.mkdir()
    (remote / "prod-infra0.tar.age").write_bytes(archive())
    (remote / "prod-infra1.tar.age").write_bytes(archive(with_key=False))
    (remote / "broken.tar.age").write_bytes(b"age-encryption.org/v1\nnot a tar at all\n" * 40)
    (remote / "bare.db").write_bytes(b"bare snapshot")
    return tools


def fetch(tmp_path: Path, env: dict, source: str, identity: bytes = IDENTITY):
    stage, parent = tmp_path / "backups/.restore-stage", tmp_path / "run"
    payload = restore_source.secrets_payload(RCLONE_CONFIG, identity)
    done = subprocess.run(
        ["sh", str(scripts.path("restore_fetch")), "fetch", source, str(stage), str(parent)],
        env=env,
        input=payload,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done, stage, parent


def secrets_left(env: dict, parent: Path) -> list[str]:
    """Identity and config files the stand-ins were given that still exist, and any
    secrets dir left under the tmpfs parent."""
    state = Path(env["STATE"])
    given = [
        line
        for name in ("configs", "identities")
        if (state / name).exists()
        for line in (state / name).read_text().split()
    ]
    return [p for p in given if Path(p).exists()] + [str(p) for p in parent.glob("*")]


def test_an_encrypted_archive_is_unpacked_into_a_root_only_stage(tmp_path, env):
    done, stage, parent = fetch(tmp_path, env, "backups:prod-infra0.tar.age")
    assert done.returncode == 0, done.stderr
    fetched = restore_source.parse_fetched(done.stdout.decode().splitlines())
    assert fetched.snapshot == f"{stage}/snapshot.db"
    assert (fetched.ca_crt, fetched.ca_key) == (True, True)
    assert fetched.info == {"cluster": "prod", "member": "infra0"}
    assert (stage / "snapshot.db").read_bytes() == b"snapshot bytes"
    assert (stage / "pki/etcd/ca.key").read_bytes() == b"KEY"
    assert stat.S_IMODE(stage.stat().st_mode) == 0o700
    assert all(not p.stat().st_mode & 0o077 for p in stage.rglob("*"))
    assert secrets_left(env, parent) == []  # the identity and the rclone config are gone
    assert (Path(env["STATE"]) / "identities").exists()  # ... and age did get one
    discard = subprocess.run(
        ["sh", str(scripts.path("restore_fetch")), "discard", str(stage)], check=False
    )
    assert discard.returncode == 0 and not stage.exists()


def test_another_members_archive_carries_no_ca_key(tmp_path, env):
    done, _, _ = fetch(tmp_path, env, "backups:prod-infra1.tar.age")
    assert done.returncode == 0, done.stderr
    fetched = restore_source.parse_fetched(done.stdout.decode().splitlines())
    assert (fetched.ca_crt, fetched.ca_key) == (True, False)


def test_a_wrong_identity_is_refused_and_leaves_nothing_behind(tmp_path, env):
    done, stage, parent = fetch(tmp_path, env, "backups:prod-infra0.tar.age", b"AGE-SECRET-KEY-1X")
    assert done.returncode == 1
    assert "cannot decrypt backups:prod-infra0.tar.age with etcd_restore_age_identity" in (
        done.stderr.decode()
    )
    assert "no identity matched" in done.stderr.decode()
    assert not stage.exists() and secrets_left(env, parent) == []


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("backups:missing.tar.age", "cannot read backups:missing.tar.age: object not found"),
        ("backups:broken.tar.age", "backups:broken.tar.age is not a readable backup archive"),
        ("backups:missing.db", "cannot read backups:missing.db: object not found"),
    ],
)
def test_an_unreadable_source_is_refused_and_leaves_nothing_behind(tmp_path, env, source, reason):
    done, stage, parent = fetch(tmp_path, env, source)
    assert done.returncode == 1 and reason in done.stderr.decode(), done.stderr
    assert not stage.exists() and secrets_left(env, parent) == []


def test_a_bare_remote_snapshot_is_copied_without_an_identity(tmp_path, env):
    done, stage, parent = fetch(tmp_path, env, "backups:bare.db", identity=b"")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [f"snapshot:{stage}/snapshot.db"]
    assert (stage / "snapshot.db").read_bytes() == b"bare snapshot"
    assert secrets_left(env, parent) == []


def test_a_local_archive_is_decrypted_on_the_host(tmp_path, env):
    local = tmp_path / "copy.tar.age"
    local.write_bytes(archive())
    done, stage, _ = fetch(tmp_path, env, str(local))
    assert done.returncode == 0, done.stderr
    assert (stage / "pki/etcd/ca.crt").read_bytes() == b"CERT"


def test_the_source_is_a_path_on_the_first_member_or_an_rclone_remote():
    local = restore_source.parse_source("/var/backups/etcd/s.db")
    assert (local.location, local.remote, local.archive, local.staged) == (
        "/var/backups/etcd/s.db",
        False,
        False,
        False,
    )
    remote = restore_source.parse_source("offsite:etcd/prod/infra0/prod-infra0-T.tar.age")
    assert (remote.remote, remote.archive, remote.staged) == (True, True, True)
    assert restore_source.parse_source("s3.backups:bucket/x.db").remote
    assert restore_source.parse_source("/srv/x.tar.age").staged  # decrypted on the host
    with pytest.raises(DeployInputError, match="etcd_restore_snapshot is not set"):
        restore_source.parse_source("")
    for bad in ("s.db", "/tmp/$(reboot).db", "remote:a b", "remote:$(reboot)"):
        with pytest.raises(DeployInputError, match="etcd_restore_snapshot="):
            restore_source.parse_source(bad)


def test_operator_files_are_read_into_memory_or_refused_by_name(tmp_path):
    identity = tmp_path / "id.txt"
    identity.write_bytes(IDENTITY)
    assert restore_source.operator_file("etcd_restore_age_identity", str(identity), "x") == IDENTITY
    with pytest.raises(DeployInputError, match="etcd_restore_age_identity is not set: a restore"):
        restore_source.operator_file("etcd_restore_age_identity", "", "a restore")
    with pytest.raises(DeployInputError, match="etcd_backup_rclone_config='/nope': cannot read"):
        restore_source.operator_file("etcd_backup_rclone_config", "/nope", "x")


def test_the_secrets_travel_as_two_base64_lines():
    payload = restore_source.secrets_payload(RCLONE_CONFIG, None).decode().splitlines()
    assert payload == [base64.b64encode(RCLONE_CONFIG).decode(), "-"]


def test_the_plan_says_what_happens_to_the_pki():
    archive_source = restore_source.parse_source("r:prod-infra0.tar.age")
    full = restore_source.Fetched("/s/snapshot.db", ca_crt=True, ca_key=True)
    (line,) = restore_source.pki_lines(archive_source, full, True, "h0")
    assert "the archive's etcd CA (control planes keep trusting it)" in line
    (kept,) = restore_source.pki_lines(archive_source, full, False, "h0")
    assert "the members keep their PKI" in kept
    keyless = restore_source.Fetched("/s/snapshot.db", ca_crt=True)
    with pytest.raises(DeployInputError, match="restore from the first member's archive"):
        restore_source.pki_lines(archive_source, keyless, True, "h0")
    assert restore_source.pki_lines(archive_source, restore_source.Fetched(), True, "h0") == []
    info = {"cluster": "prod", "member": "infra0", "taken_at": "T", "etcd_version": "3.5.16"}
    described = restore_source.describe(archive_source, restore_source.Fetched("/s", info=info))
    assert described == (
        "fetched the remote encrypted archive r:prod-infra0.tar.age: cluster prod, member "
        "infra0, taken T with etcd 3.5.16"
    )


def test_new_hosts_are_those_without_any_etcd_data():
    assert restore_source.new_hosts([False, False, False])
    assert not restore_source.new_hosts([False, True, False])


def test_a_refusal_while_preparing_is_remembered_not_fetched_again(monkeypatch):
    """pyinfra prepares every host at once: one fetch, one refusal, for all of them."""
    calls = []

    def refuse(state):
        calls.append(state)
        raise DeployInputError("cannot decrypt")

    monkeypatch.setattr(restore_run, "_build", refuse)
    state = SimpleNamespace()
    state.inventory = SimpleNamespace(state=state)  # pyinfra's State is its inventory's state
    for _ in range(3):
        with pytest.raises(DeployInputError, match="cannot decrypt"):
            restore_run.get_restore_plan(state)  # type: ignore[arg-type]
    assert calls == [state]


def test_dry_is_read_from_the_command_line_where_clicks_context_is_missing(monkeypatch):
    """Deploy files are prepared in greenlets without click's context: the staged archive
    must still go at once under --dry (and a held lock only warn)."""
    monkeypatch.setattr("sys.argv", ["pyinfra", "inventory.py", "restore.py", "--dry"])
    assert run_lock_ops.is_dry_run()
    monkeypatch.setattr("sys.argv", ["pyinfra", "-y", "inventory.py", "restore.py"])
    assert not run_lock_ops.is_dry_run()
