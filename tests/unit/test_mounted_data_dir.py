"""A data dir that is its own mount (a dedicated disk) under restore, retire and a join.

A mount point cannot be renamed: the scripts move its contents aside inside it and the
mount point stays. They run under a real ``sh`` with stand-ins: ``mountpoint`` says yes
for ``$MOUNTED`` only (no real mount in a unit test), ``systemctl`` logs its arguments,
etcdctl makes a data dir as ``snapshot restore`` does (refusing an existing one).
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from etcd_cluster import scripts
from etcd_cluster.backup import restore
from tests.unit.test_restore import FAKE_SYSTEMCTL, FAKE_TOOL, NOW, survey, surveys

FAKE_MOUNTPOINT = """#!/bin/sh
# Stand-in mountpoint: "-q DIR" succeeds for $MOUNTED only.
[ "$1" = -q ] && [ -n "${MOUNTED:-}" ] && [ "$2" = "$MOUNTED" ]
"""


@pytest.fixture
def disk(tmp_path: Path):
    """A data dir with an old member, a previous aside and lost+found, on a 'mount'."""
    bin_dir, state, data = tmp_path / "bin", tmp_path / "state", tmp_path / "etcd"
    for directory in (bin_dir, state, data / "member/wal", data / "lost+found"):
        directory.mkdir(parents=True)
    (data / "member/wal/0.wal").write_text("old")
    (data / ".before-restore-20200101T000000Z").mkdir()
    for name, text in (
        ("etcdctl", FAKE_TOOL),
        ("systemctl", FAKE_SYSTEMCTL),
        ("mountpoint", FAKE_MOUNTPOINT),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state), "MOUNTED": str(data)}
    return data, env


def run(name: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(scripts.path(name)), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def restore_args(data: Path, inner: Path) -> list[str]:
    return [
        "restore",
        "/s.db",
        str(data),
        f"{data}.before-restore-T",
        "etcdctl",
        str(Path(data).parent / "bin/etcdctl"),
        "infra1",
        "https://10.0.0.7:2380",
        "infra0=https://10.0.0.6:2380,infra1=https://10.0.0.7:2380",
        "etcd-restore-T",
        "0",
        str(inner),
    ]


def test_restore_keeps_the_mount_point_and_moves_its_contents_aside_inside_it(disk):
    data, env = disk
    inner = data / ".before-restore-T"
    done = run("restore_member", env, *restore_args(data, inner))
    assert done.returncode == 0, done.stderr
    assert not Path(f"{data}.before-restore-T").exists()  # nothing renamed outside the mount
    assert (inner / "member/wal/0.wal").read_text() == "old"  # kept, never deleted
    assert (data / "member/wal").is_dir() and not (data / "member/wal/0.wal").exists()
    assert sorted(p.name for p in data.iterdir()) == [
        ".before-restore-20200101T000000Z",  # an earlier aside stays where it was
        ".before-restore-T",
        "lost+found",
        "member",
    ]
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    call = (data.parent / "state/calls").read_text()
    assert f"--data-dir={data}/.etcd-restore-T " in call  # restored beside, then moved in
    again = run("restore_member", env, *restore_args(data, inner))
    assert again.returncode == 1 and "exists already" in again.stderr
    assert (data / "member/wal").is_dir()


def test_restore_renames_a_data_dir_that_is_not_a_mount_as_before(disk):
    data, env = disk
    done = run("restore_member", {**env, "MOUNTED": ""}, *restore_args(data, data / ".x"))
    assert done.returncode == 0, done.stderr
    assert (Path(f"{data}.before-restore-T") / "member/wal/0.wal").read_text() == "old"
    assert sorted(p.name for p in data.iterdir()) == ["member"]


def test_the_survey_and_the_plan_know_the_mount(disk, cluster):
    data, env = disk
    etcdctl = str(data.parent / "bin/etcdctl")
    done = run("restore_member", env, "survey", "", etcdctl, "", str(data))
    parsed = restore.parse_member_survey(done.stdout.splitlines())
    assert parsed.has_data and parsed.data_mount
    plain = run("restore_member", {**env, "MOUNTED": ""}, "survey", "", etcdctl, "", str(data))
    assert not restore.parse_member_survey(plain.stdout.splitlines()).data_mount
    inner = restore.inner_aside_path("/var/lib/etcd", NOW)
    assert inner == "/var/lib/etcd/.before-restore-20261122T193005Z"
    found = surveys(cluster, infra1=survey(has_data=True, data_mount=True))
    text = "\n".join(restore.plan_lines(cluster, "/s.db", found, "tok", "/aside", inner))
    assert (
        f"10.0.0.7: stop etcd; move the contents of /var/lib/etcd aside to {inner} "
        "(/var/lib/etcd is a mount point: it stays);"
    ) in text


@pytest.mark.parametrize("mounted", [True, False])
def test_retire_moves_the_data_aside_and_keeps_a_mount_point(disk, mounted):
    data, env = disk
    env = env if mounted else {**env, "MOUNTED": ""}
    key = data.parent / "peer.key"
    key.write_text("k")
    check = run("retire_member", env, "check", "etcd", str(data), str(key))
    assert "data" in check.stdout and str(key) in check.stdout
    done = run("retire_member", env, "retire", "etcd", str(data), str(key))
    assert done.returncode == 0, done.stderr
    assert not key.exists()
    if mounted:
        (aside,) = data.glob(".removed-*")
        assert (aside / "member/wal/0.wal").read_text() == "old"
        assert sorted(p.name for p in data.iterdir()) == sorted(
            [".before-restore-20200101T000000Z", aside.name, "lost+found"]
        )
    else:
        (aside,) = data.parent.glob("etcd.removed-*")
        assert (aside / "member/wal/0.wal").read_text() == "old" and not data.exists()
    left = run("retire_member", env, "check", "etcd", str(data), str(key)).stdout.split()
    assert "data" not in left and str(key) not in left  # (the stand-in systemctl says "active")


def test_a_join_keeps_the_old_member_on_its_own_disk(disk):
    data, env = disk
    done = run("prepare_join", env, "systemd", "etcd", str(data))
    assert done.returncode == 0, done.stderr
    (aside,) = data.glob(".before-join-*")
    assert (aside / "member/wal/0.wal").read_text() == "old" and not (data / "member").exists()
    assert not list(data.parent.glob("etcd.before-join-*"))
