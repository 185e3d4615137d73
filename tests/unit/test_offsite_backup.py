"""Off-host copies in the backup script, rendered as hosts get it and run under a real
``sh`` with stand-ins: etcdctl (``test_backup``), an rclone whose remote ``bk:`` is a
local directory (``copyto`` keeps the file's time, as rclone does; ``lsf --format tp``
lists times and names), and an age that writes a header line and then its input, so the
test can open the archive. The real rclone, age and sftp server are ``tests/e2e``'s."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine.templates import render
from tests.unit.test_backup import FAKE_ETCDCTL, made_up, run_backup

FAKE_RCLONE = """#!/bin/sh
# Stand-in rclone: remote "bk:PATH" is $STATE/remote/PATH; fails while $STATE/remote-down.
echo "rclone $*" >>"$STATE/calls"
[ "$1" = --config ] || exit 2
shift 2
[ -f "$STATE/remote-down" ] && { echo "couldn't connect SSH: i/o timeout" >&2; exit 1; }
at() { echo "$STATE/remote/${1#bk:}"; }
case $1 in
copyto) mkdir -p "$(dirname "$(at "$3")")" && cp -p "$2" "$(at "$3")" ;;
lsf)
    for f in "$(at "$5")"/*; do # lsf --files-only --format tp DIR
        [ ! -f "$f" ] || echo "$(date -u -r "$f" '+%Y-%m-%d %H:%M:%S');${f##*/}"
    done ;;
deletefile) rm -- "$(at "$2")" ;;
*) exit 2 ;;
esac
"""

FAKE_AGE = """#!/bin/sh
# Stand-in age: "-r KEY... -o OUT" writes "sealed to KEY..." and then its input to OUT.
echo "age $*" >>"$STATE/calls"
keys=
while [ "$1" = -r ]; do keys="$keys $2"; shift 2; done
[ "$1" = -o ] || exit 2
{ echo "sealed to$keys"; cat; } >"$2"
"""

KEY = "age1" + "q" * 58


@pytest.fixture
def bed(tmp_path: Path):
    """Stand-in tools, a PKI directory, and ``render(remote settings)`` -> script path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("etcdctl", FAKE_ETCDCTL), ("rclone", FAKE_RCLONE), ("age", FAKE_AGE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    pki = tmp_path / "pki" / "etcd"
    pki.mkdir(parents=True)
    (pki / "ca.crt").write_text("the CA certificate")
    conf = tmp_path / "rclone.conf"
    conf.write_text("[bk]\ntype = local\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state)}
    return tmp_path, env


def render_script(tmp_path: Path, make_cluster, make_settings, member: int = 0, **data) -> Path:
    settings = make_settings(
        etcd_backup_dir=str(tmp_path / "backups"),
        etcd_pki_dir=str(tmp_path / "pki"),
        etcdctl_binary=str(tmp_path / "bin" / "etcdctl"),
        etcd_backup_remote="bk:/srv/etcd/",
        etcd_backup_rclone_config=str(tmp_path / "rclone.conf"),
        etcd_cluster_name="prod",
        **data,
    )
    cluster = make_cluster(settings_=settings)
    script = tmp_path / "etcd-backup.sh"
    context = backup.script_context(cluster, cluster.members[member])
    script.write_text(render(backup.SCRIPT_TEMPLATE, **context))
    return script


def remote_dir(tmp_path: Path, member: str) -> Path:
    return tmp_path / "state" / "remote" / "srv" / "etcd" / "prod" / member


def test_a_bare_snapshot_lands_on_the_remote_named_as_promised(bed, make_cluster, make_settings):
    tmp_path, env = bed
    script = render_script(tmp_path, make_cluster, make_settings)
    done = run_backup(script, env)
    assert done.returncode == 0, done.stderr
    (local,) = (tmp_path / "backups").iterdir()
    (copy,) = remote_dir(tmp_path, "infra0").iterdir()
    stamp = local.name.removeprefix("etcd-snapshot-infra0-").removesuffix(".db")
    assert copy.name == f"prod-infra0-{stamp}.db"
    assert copy.read_bytes() == local.read_bytes()
    assert copy.stat().st_mtime == local.stat().st_mtime
    calls = (tmp_path / "state" / "calls").read_text()
    assert f"rclone --config {backup.RCLONE_CONFIG} copyto " in calls
    assert "age" not in calls.split()


def archive_members(copy: Path) -> dict[str, bytes]:
    header, _, tar = copy.read_bytes().partition(b"\n")
    assert header == f"sealed to {KEY}".encode()
    unsealed = copy.with_suffix(".tar")
    unsealed.write_bytes(tar)
    with tarfile.open(unsealed) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


@pytest.mark.parametrize("holds_ca_key", [True, False])
def test_with_a_recipient_the_copy_is_the_archive(bed, make_cluster, make_settings, holds_ca_key):
    tmp_path, env = bed
    if holds_ca_key:
        (tmp_path / "pki" / "etcd" / "ca.key").write_text("the CA key")
    member = 0 if holds_ca_key else 1
    script = render_script(
        tmp_path, make_cluster, make_settings, member, etcd_backup_age_recipient=KEY
    )
    done = run_backup(script, env)
    assert done.returncode == 0, done.stderr
    name = f"infra{member}"
    (local,) = (tmp_path / "backups").iterdir()
    (copy,) = remote_dir(tmp_path, name).iterdir()
    assert copy.name == local.name.replace("etcd-snapshot-", "prod-").replace(".db", ".tar.age")
    files = archive_members(copy)
    expected = {"snapshot.db", "pki/etcd/ca.crt", "cluster.json"}
    assert set(files) == expected | ({"pki/etcd/ca.key"} if holds_ca_key else set())
    assert files["snapshot.db"] == local.read_bytes()
    info = json.loads(files["cluster.json"])
    assert (info["cluster"], info["member"], info["etcd_version"]) == ("prod", name, "3.4.23")
    assert info["taken_at"].endswith("Z") and info["taken_at"][:10].count("-") == 2
    assert [m["name"] for m in info["members"]] == ["infra0", "infra1", "infra2"]
    assert info["members"][0]["peer_url"] == "https://10.0.0.6:2380"
    assert info["settings"]["etcd_client_port"] == 2379
    assert info["settings"]["etcd_backup_age_recipient"] == [KEY]
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [local.name]  # nothing left


def test_a_stage_left_by_a_killed_run_goes(bed, make_cluster, make_settings):
    tmp_path, env = bed
    left = tmp_path / "backups" / ".archive-infra0.AbC123"
    left.mkdir(parents=True)
    (left / "upload").write_text("sealed, half written")
    script = render_script(tmp_path, make_cluster, make_settings, etcd_backup_age_recipient=KEY)
    assert run_backup(script, env).returncode == 0
    (only,) = (tmp_path / "backups").iterdir()
    assert only.name.startswith("etcd-snapshot-infra0-")


def test_an_unreachable_remote_fails_the_run_and_keeps_the_local_snapshot(
    bed, make_cluster, make_settings
):
    tmp_path, env = bed
    (tmp_path / "state" / "remote-down").write_text("")
    done = run_backup(render_script(tmp_path, make_cluster, make_settings), env)
    assert done.returncode != 0
    assert "copy of " in done.stderr and "bk:/srv/etcd/prod/infra0/prod-infra0-" in done.stderr
    assert len(list((tmp_path / "backups").iterdir())) == 1


def test_the_remote_is_pruned_by_the_same_tiers(bed, make_cluster, make_settings):
    tmp_path, env = bed
    script = render_script(
        tmp_path,
        make_cluster,
        make_settings,
        etcd_backup_keep_hourly=2,
        etcd_backup_keep_daily=0,
        etcd_backup_keep_weekly=0,
    )
    remote = remote_dir(tmp_path, "infra0")
    old = {
        "prod-infra0-20200101T000000Z.db": "2020-01-01 00:00",  # the newest other hour
        "prod-infra0-20200101T000001Z.tar.age": "2019-01-01 00:00",  # pruned
        "prod-infra0-20300101T000000Z.db": "2018-01-01 00:00",  # name says later: pruned
        "prod-infra1-20200101T000000Z.db": "2000-01-01 00:00",  # another member's name
        "notes.txt": "2000-01-01 00:00",  # not a copy
    }
    made_up(remote, old)
    done = run_backup(script, env)
    assert done.returncode == 0, done.stderr
    left = {p.name for p in remote.iterdir()}
    (new,) = left - set(old)
    assert left == {new, *old} - {
        "prod-infra0-20200101T000001Z.tar.age",
        "prod-infra0-20300101T000000Z.db",
    }
    assert "removed bk:/srv/etcd/prod/infra0/prod-infra0-20300101T000000Z.db" in done.stdout


def test_a_labelled_snapshot_stays_local(bed, make_cluster, make_settings):
    tmp_path, env = bed
    done = run_backup(render_script(tmp_path, make_cluster, make_settings), env, "before-upgrade")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "state" / "remote").exists()
    assert "rclone" not in (tmp_path / "state" / "calls").read_text()


def test_no_plaintext_archive_touches_the_disk(bed, make_cluster, make_settings):
    """tar is piped into age: with age failing, no .tar file is left anywhere."""
    tmp_path, env = bed
    (tmp_path / "bin" / "age").write_text("#!/bin/sh\ncat >/dev/null\nexit 1\n")
    script = render_script(tmp_path, make_cluster, make_settings, etcd_backup_age_recipient=KEY)
    done = run_backup(script, env)
    assert done.returncode != 0
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tar", ".age"))]
    assert leftovers == [] and not (tmp_path / "state" / "remote").exists()
    assert os.listdir(tmp_path / "backups") and all(
        n.startswith("etcd-snapshot-") for n in os.listdir(tmp_path / "backups")
    )
