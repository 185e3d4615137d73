"""Restore: the decisions (pure), and ``restore_member.sh`` under a real ``sh``.

The script runs against stand-ins for etcdctl/etcdutl (they log their arguments and
make a data dir as ``snapshot restore`` does), systemctl (logs its arguments) and
crictl (prints the running etcd container until the manifest is parked).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest

from etcd_cluster import scripts
from etcd_cluster.backup import restore
from etcd_cluster.etcd.health import parse_probe

NOW = datetime.datetime(2026, 11, 22, 19, 30, 5, tzinfo=datetime.UTC)
OK_STATUS = '{"hash":1,"revision":42,"totalKey":7,"totalSize":20480}'


def survey(**fields) -> restore.MemberSurvey:
    return restore.MemberSurvey(**{"tool": "/usr/bin/etcdctl", "kind": "etcdctl", **fields})


def surveys(cluster, first=None, **others) -> dict[str, restore.MemberSurvey]:
    result = {m.host: others.get(m.name, survey()) for m in cluster.members}
    result[cluster.first.host] = first or survey(status={"revision": 42}, snapshot_sha256="ab")
    return result


def test_the_survey_is_parsed():
    lines = ["tool:/usr/bin/etcdutl", "kind:etcdutl", "bump:yes", "data:yes"]
    lines += ["snapshot_sha256:ab12", f"status:{OK_STATUS}"]
    parsed = restore.parse_member_survey(lines)
    assert (parsed.tool, parsed.kind, parsed.bump, parsed.has_data) == (
        "/usr/bin/etcdutl",
        "etcdutl",
        True,
        True,
    )
    assert parsed.status["revision"] == 42 and parsed.snapshot_sha256 == "ab12"
    empty = restore.parse_member_survey(["bump:no", "status_error:no such file"])
    assert (empty.tool, empty.bump, empty.has_data, empty.status) == ("", False, False, {})
    assert empty.status_error == "no such file"


def test_confirmation_is_required():
    assert restore.confirm_refusal("yes") == ""
    for value in (None, "", "no", "YES", True):
        assert "etcd_restore_confirm=yes" in restore.confirm_refusal(value)


def test_names_of_the_new_cluster_and_the_old_data():
    assert restore.new_token(NOW) == "etcd-restore-20261122T193005Z"
    assert (
        restore.aside_path("/var/lib/etcd", NOW) == "/var/lib/etcd.before-restore-20261122T193005Z"
    )
    assert restore.staged_path("/var/backups/etcd", "t") == "/var/backups/etcd/.t.db"


def test_revisions_are_bumped_only_when_every_member_can(cluster):
    assert restore.bump_revision({h: survey(bump=True) for h in ("a", "b")}) == 1_000_000_000
    assert restore.bump_revision({"a": survey(bump=True), "b": survey(bump=False)}) == 0
    assert restore.bump_revision({}) == 0


def test_a_bad_snapshot_or_a_member_without_a_tool_is_refused(cluster):
    assert restore.refusals(cluster, "/s.db", surveys(cluster)) == []
    bad = surveys(cluster, first=survey(status_error="Error: invalid database"))
    (refusal,) = restore.refusals(cluster, "/s.db", bad)
    assert "host 10.0.0.6: snapshot /s.db cannot be used: Error: invalid database" in refusal
    toolless = surveys(cluster, infra2=survey(tool="", kind=""))
    (refusal,) = restore.refusals(cluster, "/s.db", toolless)
    assert "10.0.0.8 (etcd member infra2): no etcdutl and no etcdctl" in refusal
    assert "set etcd_version" not in refusal
    (refusal,) = restore.refusals(cluster, "/s.db", toolless, new_hosts=True)
    assert "set etcd_version" in refusal


def test_a_snapshot_failing_its_hash_check_is_refused(cluster):
    damaged = surveys(cluster, first=survey(status={"revision": 42}, snapshot_hash="bad"))
    (refusal,) = restore.refusals(cluster, "/s.db", damaged)
    assert "snapshot /s.db fails its hash check" in refusal


def test_on_new_hosts_the_hash_stands_in_for_the_status_no_tool_can_read_yet(cluster):
    unread = surveys(cluster, first=survey(status_error="no tool", snapshot_hash="ok"))
    assert restore.refusals(cluster, "/s.db", unread, new_hosts=True) == []
    (refusal,) = restore.refusals(cluster, "/s.db", unread)  # an existing cluster: refused
    assert "cannot be used: no tool" in refusal
    unchecked = surveys(cluster, first=survey(status_error="no tool", snapshot_hash="none"))
    assert restore.refusals(cluster, "/s.db", unchecked, new_hosts=True)


def test_new_hosts_restore_with_the_chosen_releases_etcdutl(make_settings):
    chosen = make_settings(
        etcd_runtime="systemd", etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": "a" * 64}
    )
    bare = restore.MemberSurvey()
    got = restore.with_release_tool(bare, chosen, new_hosts=True)
    assert (got.tool, got.kind, got.bump) == ("/opt/etcd/v3.5.16/etcdutl", "etcdutl", True)
    assert restore.with_release_tool(bare, chosen, new_hosts=False) == bare
    assert restore.with_release_tool(bare, make_settings(), new_hosts=True) == bare
    found = survey()
    assert restore.with_release_tool(found, chosen, new_hosts=True) == found


def test_the_plan_on_new_hosts_says_the_deploys_steps_come_first(cluster):
    found = surveys(cluster)
    text = "\n".join(restore.plan_lines(cluster, "/s.db", found, "tok", "/a", new_hosts=True))
    assert "new hosts (no member holds etcd data): first the deploy's own steps" in text
    unread = {**found, cluster.first.host: survey(snapshot_hash="ok")}
    text = "\n".join(restore.plan_lines(cluster, "/s.db", unread, "tok", "/a", new_hosts=True))
    assert "(its sha256 checked; no etcd tool here yet to read its revision)" in text
    assert "10.0.0.8: stop etcd; move /var/lib/etcd aside to /a;" in text
    (line,) = restore.live_lines([], {"revision": 42}, new_hosts=True)
    assert line == "live cluster: none (no member holds etcd data): nothing live is lost"


def test_the_plan_names_every_step_and_the_missing_revision_bump(cluster):
    found = surveys(cluster, infra1=survey(has_data=True))
    lines = restore.plan_lines(cluster, "/s.db", found, "tok", "/var/lib/etcd.aside")
    text = "\n".join(lines)
    assert "from 10.0.0.6:/s.db (revision 42" in text
    assert "new cluster token tok; initial cluster infra0=https://10.0.0.6:2380," in text
    assert "10.0.0.7: stop etcd; move /var/lib/etcd aside to /var/lib/etcd.aside;" in text
    assert "10.0.0.8: stop etcd; no data dir; etcdctl snapshot restore (copy received" in text
    assert "restart every kube-apiserver" in text
    bumped = {h: survey(bump=True, status={"revision": 1}) for h in found}
    text = "\n".join(restore.plan_lines(cluster, "/s.db", bumped, "tok", "/a"))
    assert "revisions bumped by 1000000000 and marked compacted" in text


FAKE_TOOL = """#!/bin/sh
# Stand-in etcdctl/etcdutl: logs its arguments; "snapshot restore ... --data-dir=D" makes D
# (refusing an existing one, as etcd does); "--help" lists flags per $BUMP.
echo "$(basename "$0") $*" >>"$STATE/calls"
case "$*" in
*--help*) echo "--data-dir --name"; [ -n "${BUMP:-}" ] && echo "--bump-revision --mark-compacted"
    exit 0 ;;
*"snapshot status"*) echo '{"hash":1,"revision":42,"totalKey":7,"totalSize":20480}' ;;
*"snapshot restore"*)
    for arg; do case $arg in --data-dir=*) dir=${arg#--data-dir=} ;; esac; done
    [ -e "$dir" ] && { echo "data-dir $dir exists" >&2; exit 1; }
    mkdir -p "$dir/member/wal" ;;
esac
"""

FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >>"$STATE/calls"
"""

FAKE_CRICTL = """#!/bin/sh
# Stand-in crictl: the etcd container runs while the manifest is in place.
[ -f "$MANIFEST" ] && echo c0
exit 0
"""


@pytest.fixture
def member(tmp_path: Path):
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (
        ("etcdctl", FAKE_TOOL),
        ("systemctl", FAKE_SYSTEMCTL),
        ("crictl", FAKE_CRICTL),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STATE": str(state),
        "MANIFEST": str(tmp_path / "manifests/etcd.yaml"),
    }
    return tmp_path, env


def phase(env: dict, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(scripts.path("restore_member")), *args],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def lines(done: subprocess.CompletedProcess) -> list[str]:
    return done.stdout.decode().splitlines()


def test_survey_reports_the_tool_the_data_dir_and_the_snapshot(member):
    tmp_path, env = member
    etcdctl = tmp_path / "bin/etcdctl"
    snapshot = tmp_path / "s.db"
    snapshot.write_bytes(b"snap")
    (tmp_path / "data").mkdir()
    done = phase(
        env, "survey", str(snapshot), str(etcdctl), "/nonexistent/etcdutl", str(tmp_path / "data")
    )
    parsed = restore.parse_member_survey(lines(done))
    assert (parsed.tool, parsed.kind, parsed.bump, parsed.has_data) == (
        str(etcdctl),
        "etcdctl",
        False,
        True,
    )
    assert not parsed.member_data  # an empty data dir (as a package leaves it): no etcd data
    (tmp_path / "data/member").mkdir()
    again = phase(env, "survey", "", str(etcdctl), "", str(tmp_path / "data"))
    assert restore.parse_member_survey(lines(again)).member_data
    assert parsed.snapshot_sha256 == hashlib.sha256(b"snap").hexdigest()
    assert parsed.snapshot_hash == "none"  # no sha256 appended (size % 512 != 32)
    assert parsed.status["revision"] == 42
    missing = phase(env, "survey", str(tmp_path / "no.db"), str(etcdctl), "", str(tmp_path / "x"))
    assert restore.parse_member_survey(lines(missing)).status_error == "no such file"


def test_survey_checks_the_sha256_etcd_appends_to_a_snapshot(member):
    tmp_path, env = member
    db = bytes(range(256)) * 16  # a bolt db is whole pages; etcd appends its sha256
    snapshot = tmp_path / "s.db"
    for tail, verdict in ((hashlib.sha256(db).digest(), "ok"), (b"\0" * 32, "bad")):
        snapshot.write_bytes(db + tail)
        done = phase(env, "survey", str(snapshot), str(tmp_path / "bin/etcdctl"), "", "/x")
        assert restore.parse_member_survey(lines(done)).snapshot_hash == verdict


def test_survey_prefers_etcdutl_and_sees_the_revision_flags(member):
    tmp_path, env = member
    etcdutl = tmp_path / "bin/etcdutl"
    etcdutl.write_text(FAKE_TOOL)
    etcdutl.chmod(0o755)
    done = phase({**env, "BUMP": "1"}, "survey", "", "/usr/bin/etcdctl", str(etcdutl), "/x")
    parsed = restore.parse_member_survey(lines(done))
    assert (parsed.kind, parsed.bump, parsed.has_data, parsed.status) == (
        "etcdutl",
        True,
        False,
        {},
    )


def test_receive_keeps_only_an_intact_copy_with_mode_600(member):
    tmp_path, env = member
    dest = tmp_path / "backups/.tok.db"
    data = b"snapshot bytes"
    bad = phase(env, "receive", str(dest), "0" * 64, stdin=data)
    assert bad.returncode == 1 and b"damaged" in bad.stderr
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    good = phase(env, "receive", str(dest), hashlib.sha256(data).hexdigest(), stdin=data)
    assert good.returncode == 0, good.stderr
    assert dest.read_bytes() == data and stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_restore_moves_the_old_data_aside_and_restores_as_this_member(member):
    tmp_path, env = member
    data, aside = tmp_path / "etcd", tmp_path / "etcd.before-restore-T"
    (data / "member/wal").mkdir(parents=True)
    (data / "member/wal/0.wal").write_text("old")
    args = ["restore", "/s.db", str(data), str(aside), "etcdctl", str(tmp_path / "bin/etcdctl")]
    args += ["infra1", "https://10.0.0.7:2380", "infra0=https://10.0.0.6:2380,infra1=x", "tok"]
    done = phase(env, *args, "0")
    assert done.returncode == 0, done.stderr
    assert (aside / "member/wal/0.wal").read_text() == "old"  # kept, never deleted
    assert (data / "member/wal").is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o700
    call = (tmp_path / "state/calls").read_text()
    assert "snapshot restore /s.db --name=infra1 --data-dir=" in call
    assert "--initial-advertise-peer-urls=https://10.0.0.7:2380" in call
    assert "--initial-cluster=infra0=https://10.0.0.6:2380,infra1=x" in call
    assert "--initial-cluster-token=tok" in call and "bump" not in call
    again = phase(env, *args, "0")  # the aside name is taken: refuse, touch nothing
    assert again.returncode == 1 and b"exists already" in again.stderr
    assert (data / "member/wal").is_dir()


def test_restore_bumps_revisions_when_asked(member):
    tmp_path, env = member
    args = ["restore", "/s.db", str(tmp_path / "etcd"), str(tmp_path / "aside"), "etcdutl"]
    args += [str(tmp_path / "bin/etcdctl"), "infra0", "https://a:2380", "infra0=https://a:2380"]
    done = phase({**env, "BUMP": "1"}, *args, "tok", "1000000000")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "aside").exists()  # nothing to move aside
    call = (tmp_path / "state/calls").read_text()
    assert "--bump-revision=1000000000 --mark-compacted" in call


def test_a_tool_missing_or_without_the_bump_is_refused_before_anything_moves(member):
    tmp_path, env = member
    (tmp_path / "etcd/member").mkdir(parents=True)
    head = ["restore", "/s.db", str(tmp_path / "etcd"), str(tmp_path / "aside"), "etcdutl"]
    tail = ["infra0", "https://a:2380", "infra0=https://a:2380", "tok", "1000000000"]
    old = phase(env, *head, str(tmp_path / "bin/etcdctl"), *tail)  # no BUMP: an older tool
    assert old.returncode == 1 and b"has no --bump-revision" in old.stderr
    gone = phase(env, *head, str(tmp_path / "bin/etcdutl"), *tail)
    assert gone.returncode == 1 and b"etcdutl missing" in gone.stderr
    assert (tmp_path / "etcd/member").is_dir() and not (tmp_path / "aside").exists()


def test_systemd_members_stop_and_start_through_the_unit(member):
    tmp_path, env = member
    assert phase(env, "stop", "systemd", "etcd", "/m", "/park", "unix:///x", "5").returncode == 0
    assert phase(env, "start", "systemd", "etcd", "/m", "/park").returncode == 0
    calls = (tmp_path / "state/calls").read_text().splitlines()
    assert calls == [
        "systemctl stop etcd",
        "systemctl reset-failed etcd",
        "systemctl start --no-block etcd",
    ]


def test_static_pod_members_park_the_manifest_until_the_container_is_gone(member):
    tmp_path, env = member
    manifest, park = Path(env["MANIFEST"]), tmp_path / "parked"
    manifest.parent.mkdir()
    manifest.write_text("kind: Pod\n")
    stop = phase(env, "stop", "static-pod", "etcd", str(manifest), str(park), "unix:///s", "5")
    assert stop.returncode == 0, stop.stderr
    assert not manifest.exists() and (park / "etcd.yaml").read_text() == "kind: Pod\n"
    assert list(manifest.parent.iterdir()) == []  # never a second pod in kubelet's dir
    start = phase(env, "start", "static-pod", "etcd", str(manifest), str(park))
    assert start.returncode == 0 and manifest.read_text() == "kind: Pod\n"


def live(cluster, revisions: dict[str, int | None], leader: str = "infra0"):
    """Statuses as parse_probe gives them: ``None`` for a member that does not answer."""
    ids = {m.name: str(i + 11) for i, m in enumerate(cluster.members)}
    found = []
    for member, endpoint in zip(cluster.members, cluster.client_endpoints, strict=True):
        revision = revisions.get(member.name)
        if revision is None:
            continue
        header = {"member_id": ids[member.name], "revision": str(revision)}
        body = json.dumps({"header": header, "leader": ids.get(leader, "0")})
        found.append(f'{endpoint}\t{{"health":"true"}}\t{body}')
    return parse_probe(cluster, found)


def test_the_plan_shows_the_live_cluster_next_to_the_snapshot(cluster):
    statuses = live(cluster, {"infra0": 130, "infra1": 130, "infra2": 129})
    (line,) = restore.live_lines(statuses, {"revision": 42})
    assert line == (
        "live cluster: 3/3 members healthy, leader infra0, revision 130; the snapshot's "
        "revision is 42: 88 revision(s) written since it will be lost"
    )


def test_the_plan_says_when_the_loss_cannot_be_told(cluster):
    (line,) = restore.live_lines(live(cluster, {}), {"revision": 42})
    assert "0/3 members healthy, no leader" in line and "quorum lost?" in line
    assert "revision is 42" in line and "cannot be told" in line
    (newer,) = restore.live_lines(live(cluster, {"infra1": 10}), {"revision": 42})
    assert "1/3 members healthy" in newer and "42, NEWER than the live cluster's" in newer
    (unknown,) = restore.live_lines(live(cluster, {"infra1": 10}), {})
    assert "revision 10; the snapshot's revision is unknown" in unknown
