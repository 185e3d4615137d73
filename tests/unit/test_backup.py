"""Scheduled snapshots: settings, names, retention, units, and the backup script itself.

The script is rendered from its template exactly as hosts get it and run under a real
``sh`` with a stand-in etcdctl (and etcdutl): ``snapshot save`` writes ``PATH.part``
then renames it, as etcdctl does; ``snapshot status`` prints etcd's JSON or fails.
"""

from __future__ import annotations

import datetime
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine.observe import Observation, parse_observation
from etcd_cluster.engine.templates import render
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.health import format_table, parse_probe

UTC = datetime.UTC


@pytest.mark.parametrize("schedule", ["hourly", "daily", "*-*-* 00/4:00:00", "Mon..Fri 02:30"])
def test_calendar_schedules_are_accepted(make_settings, schedule):
    assert make_settings(etcd_backup_schedule=schedule).backup_schedule == schedule


@pytest.mark.parametrize(
    "schedule",
    ["", "hourly\nExecStartPre=/bin/rm -rf /", "daily; reboot", "$(reboot)", "%H", "'daily'", 5],
)
def test_a_malformed_or_dangerous_schedule_is_refused_naming_it(make_settings, schedule):
    with pytest.raises(DeployInputError, match="etcd_backup_schedule="):
        make_settings(etcd_backup_schedule=schedule)


def test_defaults_and_bad_values(make_settings):
    s = make_settings()
    assert (s.backup_dir, s.backup_schedule) == ("/var/backups/etcd", "hourly")
    tiers = (s.backup_keep, s.backup_keep_hourly, s.backup_keep_daily, s.backup_keep_weekly)
    assert tiers == (0, 24, 7, 4)
    assert s.etcdctl_binary == "/usr/bin/etcdctl" and s.backup_keep_before_change == 5
    with pytest.raises(DeployInputError, match="etcd_backup_keep_before_change=0"):
        make_settings(etcd_backup_keep_before_change=0)
    with pytest.raises(DeployInputError, match="etcd_backup_keep_daily=-1"):
        make_settings(etcd_backup_keep_daily=-1)
    with pytest.raises(DeployInputError, match="are all 0"):
        make_settings(
            etcd_backup_keep_hourly=0, etcd_backup_keep_daily=0, etcd_backup_keep_weekly=0
        )
    assert make_settings(etcd_backup_keep=3, etcd_backup_keep_hourly=0).backup_keep == 3
    with pytest.raises(DeployInputError, match="etcd_backup_dir='backups'"):
        make_settings(etcd_backup_dir="backups")


def test_names_sort_in_time_order_and_carry_their_time():
    early = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = early + datetime.timedelta(days=40, seconds=1)
    names = [backup.snapshot_name("infra0", t) for t in (later, early)]
    assert names[1] == "etcd-snapshot-infra0-20260102T030405Z.db"
    assert sorted(names) == names[::-1]
    assert backup.snapshot_time(names[0]) == later
    assert backup.snapshot_time("etcd-snapshot-infra0-latest.db") is None


def test_age_is_short(make_settings):
    ages = [None, -3, 45, 12 * 60, 3 * 3600 + 5 * 60, 2 * 86400 + 4 * 3600]
    assert [backup.format_age(a) for a in ages] == ["-", "0s", "45s", "12m", "3h05m", "2d04h"]


def test_the_table_shows_each_members_latest_snapshot_age_and_last_run(cluster):
    observations = {
        "10.0.0.6": Observation(
            clock=10_000.0,
            latest_snapshot="etcd-snapshot-infra0-x.db",
            latest_snapshot_mtime=9_280,
            backup_result="success",
            backup_exit_status="0",
            backup_exit_at=9_280,
        ),
        "10.0.0.7": Observation(clock=10_000.0),
        "10.0.0.8": Observation(
            clock=100_000.0,
            latest_snapshot="etcd-snapshot-infra2-y.db",
            latest_snapshot_mtime=10_000,
            backup_due=17_200,
            backup_result="exit-code",
            backup_exit_status="1",
            backup_exit_at=99_000,
        ),
    }
    snapshots = backup.latest_snapshots(observations)
    assert snapshots == {
        "10.0.0.6": ("etcd-snapshot-infra0-x.db", "12m", "ok"),
        "10.0.0.7": ("-", "-", "-"),
        "10.0.0.8": ("etcd-snapshot-infra2-y.db", "1d01h (old)", "FAILED"),
    }
    table = format_table(parse_probe(cluster, []), {}, snapshots).splitlines()
    assert table[0].split()[-5:] == ["LATEST", "SNAPSHOT", "AGE", "LAST", "BACKUP"]
    assert table[1].split()[-3:] == ["etcd-snapshot-infra0-x.db", "12m", "ok"]
    assert table[2].split()[-3:] == ["-", "-", "-"]
    assert table[3].split()[-4:] == ["etcd-snapshot-infra2-y.db", "1d01h", "(old)", "FAILED"]


def test_backups_warn_naming_the_member_when_the_last_run_failed_or_snapshots_are_old(cluster):
    healthy = Observation(
        clock=10_000.0, latest_snapshot="s0.db", latest_snapshot_mtime=9_000, backup_due=16_200
    )
    due = 20_000.0  # the schedule came due twice after the newest snapshot
    observations = {
        "10.0.0.6": healthy,
        "10.0.0.7": Observation(
            clock=due + backup.LATE_AFTER + 1,
            latest_snapshot="etcd-snapshot-infra1-20260101T000000Z.db",
            latest_snapshot_mtime=due - 7_200,
            backup_due=due,
        ),
        "10.0.0.8": Observation(
            clock=due,
            backup_due=due - backup.LATE_AFTER - 1,  # none since the timer started
            backup_result="exit-code",
            backup_exit_status="1",
            backup_exit_at=1_764_590_000,
        ),
    }
    found = backup.backup_warnings(cluster, observations)
    assert found == [
        "member infra1 (10.0.0.7): its newest snapshot etcd-snapshot-infra1-20260101T000000Z.db"
        " is 2h06m old, older than two intervals of etcd_backup_schedule='hourly'",
        "member infra2 (10.0.0.8): the last etcd-backup.service run failed (exit-code, exit "
        "status 1 at 2025-12-01 11:53 UTC); `journalctl -u etcd-backup.service` on that host "
        "says why",
        "member infra2 (10.0.0.8): no snapshot in /var/backups/etcd although etcd-backup.timer "
        "started more than two intervals of etcd_backup_schedule='hourly' ago",
    ]
    # A run that is merely late (the timer's random delay, a slow snapshot) is no warning;
    # neither is a member that never ran a backup yet.
    late = Observation(clock=due + backup.LATE_AFTER, latest_snapshot="s", backup_due=due)
    assert backup.backup_warnings(cluster, {"10.0.0.6": late, "10.0.0.7": Observation()}) == []
    assert backup.backup_warnings(cluster, {"10.0.0.6": healthy}) == []


def test_the_observation_reads_the_newest_snapshot_line():
    observed = parse_observation(["now:5.0", "snapshot:etcd-snapshot-infra0-20260101T000000Z.db 4"])
    assert observed.latest_snapshot == "etcd-snapshot-infra0-20260101T000000Z.db"
    assert observed.latest_snapshot_mtime == 4.0
    assert parse_observation(["now:5.0"]).latest_snapshot == ""


def test_etcdctl_comes_from_debians_etcd_client_or_is_named_as_missing(make_settings):
    s = make_settings()
    assert backup.etcdctl_package(s, ["apt-get"]) == ["etcd-client"]
    assert backup.etcdctl_package(s, ["apt-get", "/usr/bin/etcdctl"]) == []
    assert backup.etcdctl_missing(s, ["apt-get"]) == []
    (missing,) = backup.etcdctl_missing(s, [])
    assert "/usr/bin/etcdctl (etcdctl_binary" in missing and "etcd-client" in missing
    release = make_settings(
        etcd_runtime="systemd", etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": "a" * 64}
    )
    assert backup.etcdctl(release) == "/opt/etcd/v3.5.16/etcdctl"
    assert backup.etcdutl_path(release) == "/opt/etcd/v3.5.16/etcdutl"
    assert backup.etcdctl_package(release, ["apt-get"]) == []
    assert backup.etcdctl_missing(release, []) == []
    other = make_settings(etcdctl_binary="/opt/etcd/etcdctl")
    assert backup.etcdctl_package(other, ["apt-get"]) == []
    assert backup.etcdctl_missing(other, ["apt-get"])


def test_the_units_run_the_script_on_schedule(make_cluster, make_settings):
    systemd = make_cluster(settings_=make_settings(etcd_runtime="systemd"))
    member = systemd.first
    service = render(backup.SERVICE_TEMPLATE, **backup.unit_context(systemd, member))
    timer = render(backup.TIMER_TEMPLATE, **backup.unit_context(systemd, member))
    assert "Type=oneshot" in service and f"ExecStart={backup.SCRIPT_PATH}\n" in service
    assert "After=network-online.target etcd.service\n" in service
    assert "OnCalendar=hourly\n" in timer and "Persistent=true" in timer
    static = make_cluster(settings_=make_settings(etcd_backup_schedule="*-*-* 00/4:00:00"))
    assert "After=network-online.target\n" in render(
        backup.SERVICE_TEMPLATE, **backup.unit_context(static, static.first)
    )
    assert "OnCalendar=*-*-* 00/4:00:00\n" in render(
        backup.TIMER_TEMPLATE, **backup.unit_context(static, static.first)
    )


FAKE_ETCDCTL = """#!/bin/sh
# Stand-in etcdctl: "snapshot save PATH" writes PATH.part then renames it (as etcdctl);
# "snapshot status PATH -w json" prints etcd's JSON unless $STATE/bad-status exists.
echo "$(basename "$0") $*" >>"$STATE/calls"
for last; do :; done
case "$*" in
*"snapshot save"*)
    [ -f "$STATE/save-fails" ] && { echo "context deadline exceeded" >&2; exit 1; }
    printf 'snapshot data' >"$last.part" && mv "$last.part" "$last"
    echo "Snapshot saved at $last" ;;
*"snapshot status"*)
    [ -f "$STATE/bad-status" ] && { echo "Error: invalid database" >&2; exit 1; }
    echo '{"hash":1,"revision":42,"totalKey":7,"totalSize":20480}' ;;
*"endpoint status"*) echo '[{"Endpoint":"e","Status":{"version":"3.4.23","dbSize":1}}]' ;;
*) exit 2 ;;
esac
"""


@pytest.fixture
def host(tmp_path: Path, make_cluster, make_settings):
    """A rendered backup script, a stand-in etcdctl, and a snapshot directory under tmp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    etcdctl = bin_dir / "etcdctl"
    etcdctl.write_text(FAKE_ETCDCTL)
    etcdctl.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    settings = make_settings(
        etcd_backup_dir=str(tmp_path / "backups"),
        etcd_backup_keep=2,
        etcd_backup_keep_hourly=0,
        etcd_backup_keep_daily=0,
        etcd_backup_keep_weekly=0,
        etcdctl_binary=str(etcdctl),
    )
    cluster = make_cluster(settings_=settings)
    script = tmp_path / "etcd-backup.sh"
    script.write_text(
        render(backup.SCRIPT_TEMPLATE, **backup.script_context(cluster, cluster.first))
    )
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state)}
    return tmp_path, script, env, state


def run_backup(script: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_a_snapshot_is_saved_verified_and_private(host):
    tmp_path, script, env, state = host
    done = run_backup(script, env)
    assert done.returncode == 0, done.stderr
    (saved,) = (tmp_path / "backups").iterdir()
    assert backup.snapshot_time(saved.name) is not None and "-infra0-" in saved.name
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
    calls = (state / "calls").read_text()
    assert "--endpoints=https://10.0.0.6:2379" in calls and "healthcheck-client.key" in calls
    assert "etcdctl snapshot status" in calls  # no etcdutl here: etcdctl verifies
    assert '"revision":42' in done.stdout


def test_etcdutl_beside_etcdctl_verifies_when_present(host):
    tmp_path, script, env, state = host
    etcdutl = tmp_path / "bin" / "etcdutl"
    etcdutl.write_text(FAKE_ETCDCTL)
    etcdutl.chmod(0o755)
    assert run_backup(script, env).returncode == 0
    assert "etcdutl snapshot status" in (state / "calls").read_text()


@pytest.mark.parametrize("failure", ["bad-status", "save-fails"])
def test_a_failed_or_bad_snapshot_fails_and_leaves_no_file(host, failure):
    tmp_path, script, env, state = host
    (state / failure).write_text("")
    done = run_backup(script, env)
    assert done.returncode != 0
    assert list((tmp_path / "backups").iterdir()) == []


def made_up(backups: Path, mtimes: dict[str, str]) -> None:
    """Files named ``mtimes``' keys, each with its made-up time on disk (``touch -d``)."""
    backups.mkdir(parents=True, exist_ok=True)
    for name, when in mtimes.items():
        subprocess.run(["touch", "-d", when, str(backups / name)], check=True)


def after_run(backups: Path, found: dict[str, float], *args: str) -> tuple[str, list[str]]:
    """The snapshot the run saved, and the names it should have pruned: the newest by time
    on disk of its kind, 2 (scheduled) or 3 (labelled) in all, the one just made first."""
    (saved,) = {p.name for p in backups.iterdir()} - set(found)
    kind = [n for n in found if n.startswith("etcd-snapshot-infra0-2")]
    kind = [n for n in kind if n.endswith("-before-upgrade.db") == bool(args)]
    newest = sorted(kind, key=lambda n: (-found[n], n))
    return saved, newest[(2 if not args else 3) - 1 :]


def test_the_oldest_by_time_on_disk_are_pruned_never_the_one_just_made(host):
    tmp_path, script, env, _ = host
    backups = tmp_path / "backups"
    # Names say 2030 (a clock that ran ahead); times on disk say otherwise.
    files = {
        "etcd-snapshot-infra0-20300101T000000Z.db": "2026-01-01 00:00",  # oldest on disk
        "etcd-snapshot-infra0-20200101T000000Z.db": "2026-01-03 00:00",  # newest on disk
        "etcd-snapshot-infra0-20300102T000000Z.db": "2026-01-02 00:00",
        "etcd-snapshot-infra0-20300103T000000Z.db": "2099-01-01 00:00",  # mtime in the future
        "etcd-snapshot-infra00-20190101T000000Z.db": "2000-01-01 00:00",  # another member's
        "etcd-snapshot-infra0-20190101T000000Z-before-upgrade.db": "2000-01-01 00:00",
        "keep.me": "2000-01-01 00:00",
    }
    made_up(backups, files)
    found = {name: (backups / name).stat().st_mtime for name in files}
    done = run_backup(script, env)
    assert done.returncode == 0, done.stderr
    saved, predicted = after_run(backups, found)
    left = {p.name for p in backups.iterdir()}
    # keep=2: the one just made (older on disk than the future-dated one) and the newest other
    assert left == {*files, saved} - set(predicted)
    assert saved in left and "etcd-snapshot-infra0-20300103T000000Z.db" in left
    assert sorted(predicted) == sorted(
        [
            "etcd-snapshot-infra0-20300101T000000Z.db",
            "etcd-snapshot-infra0-20200101T000000Z.db",
            "etcd-snapshot-infra0-20300102T000000Z.db",
        ]
    )
    assert "removed" in done.stdout and "(retention: 2 0 0 0)" in done.stdout


def test_a_labelled_snapshot_before_a_change_prunes_only_labelled_ones_by_their_own_count(
    host, make_cluster, make_settings
):
    tmp_path, script, env, _ = host
    backups = tmp_path / "backups"
    labelled = {
        f"etcd-snapshot-infra0-2020010{d}T000000Z-before-upgrade.db": f"2026-01-0{d} 00:00"
        for d in (1, 2, 3, 4)
    }
    scheduled = {f"etcd-snapshot-infra0-2020010{d}T000000Z.db": "2000-01-01" for d in (1, 2, 3)}
    made_up(backups, {**labelled, **scheduled})
    found = {name: (backups / name).stat().st_mtime for name in {**labelled, **scheduled}}
    settings = make_settings(
        etcd_backup_dir=str(backups),
        etcd_backup_keep=2,
        etcd_backup_keep_before_change=3,
        etcdctl_binary=env["PATH"].split(":")[0] + "/etcdctl",
    )
    cluster = make_cluster(settings_=settings)
    script.write_text(
        render(backup.SCRIPT_TEMPLATE, **backup.script_context(cluster, cluster.first))
    )
    done = run_backup(script, env, "before-upgrade")
    assert done.returncode == 0, done.stderr
    saved, predicted = after_run(backups, found, "before-upgrade")
    assert saved.startswith("etcd-snapshot-infra0-") and saved.endswith("-before-upgrade.db")
    assert stat.S_IMODE((backups / saved).stat().st_mode) == 0o600
    left = {p.name for p in backups.iterdir()}
    assert left == {*labelled, *scheduled, saved} - set(predicted)
    assert set(scheduled) <= left  # pruning scheduled snapshots is the timer's, not this one's
    oldest = sorted(labelled)[:2]
    assert sorted(predicted) == oldest and not set(oldest) & left


def test_the_deploy_runs_the_same_script_for_its_own_snapshots(make_cluster):
    cluster = make_cluster()
    command = backup.snapshot_command(cluster, cluster.first, "before-membership-change")
    argv = shlex.split(command)
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["etcd-backup", "before-membership-change"]
    assert argv[2] == render(
        backup.SCRIPT_TEMPLATE, **backup.script_context(cluster, cluster.first)
    )
