"""Drop-ins and systemd's manager environment: the pure verdicts (``dropins.py``), the
``Overrides`` item's changes (``managed.py``), and the survey and apply scripts that read
and move them, under a real ``sh`` with a stand-in ``systemctl``."""

from __future__ import annotations

import os
from pathlib import Path

from etcd_cluster import scripts
from etcd_cluster.engine import managed
from etcd_cluster.engine.host_state import (
    HostState,
    PathState,
    host_state_command,
    parse_host_state,
)
from etcd_cluster.engine.observe import Observation
from etcd_cluster.etcd import dropins
from etcd_cluster.etcd.restarts import RESTART, systemd_decision
from tests.unit.test_survey import SURVEY, converged_state, run_sh

NO_FSYNC = b"[Service]\nEnvironment=ETCD_UNSAFE_NO_FSYNC=true\n"
LIMITS = b"# more files\n[Service]\nLimitNOFILE=70000\nNice=-1\nMemoryMax=2G\nRestartSec=9\n"
DISK = b"[Unit]\nRequiresMountsFor=/var/lib/etcd\nAfter=var-lib-etcd.mount\n"


def test_a_units_drop_in_directories_include_prefix_and_type_forms():
    dirs = dropins.dropin_dirs("etcd-backup.service")
    assert "/etc/systemd/system/etcd-backup.service.d" in dirs
    assert "/run/systemd/system/etcd-backup.service.d" in dirs
    assert "/usr/lib/systemd/system/etcd-backup.service.d" in dirs
    assert "/etc/systemd/system/etcd-.service.d" in dirs  # applies to etcd-backup.service
    assert "/etc/systemd/system/service.d" in dirs  # applies to every service
    assert "/etc/systemd/system.control/etcd-backup.service.d" in dirs  # set-property
    assert "/etc/systemd/system/timer.d" in dropins.dropin_dirs("etcd-backup.timer")
    assert not any("-." in d for d in dropins.dropin_dirs("etcd.service"))


def test_settings_are_read_past_comments_sections_and_continuations():
    text = b"[Service]\n# Environment=IGNORED\n; also\nExecStartPre=/bin/a \\\n  --flag\nNice=1\n"
    assert dropins.settings_in(text) == ["ExecStartPre", "Nice"]
    assert dropins.settings_in(b"") == []


def test_only_limits_and_the_like_keep_a_drop_in():
    found = {
        "/etc/systemd/system/etcd.service.d/limits.conf": LIMITS,
        "/etc/systemd/system/etcd.service.d/env.conf": NO_FSYNC,
        "/run/systemd/system/etcd.service.d/pre.conf": b"[Service]\nExecStartPre=/x\nNice=2\n",
        "/etc/systemd/system/etcd.service.d/notes.txt": b"[Service]\nExecStart=/x\n",  # no .conf
        "/etc/systemd/system/kubelet.service.d/10.conf": b"[Service]\nExecStart=/k\n",  # other
        "/etc/systemd/system/etcd.service.d/user.conf": b"[Service]\nUser=nobody\n",  # unknown
        "/etc/systemd/system/etcd.service.d/disk.conf": DISK,
    }
    verdicts = dropins.judge(found, ["etcd.service"])
    assert {v.path: v.changes for v in verdicts} == {
        "/etc/systemd/system/etcd.service.d/disk.conf": (),
        "/etc/systemd/system/etcd.service.d/env.conf": ("Environment",),
        "/etc/systemd/system/etcd.service.d/limits.conf": (),
        "/etc/systemd/system/etcd.service.d/user.conf": ("User",),
        "/run/systemd/system/etcd.service.d/pre.conf": ("ExecStartPre",),
    }
    assert dropins.to_move_aside(verdicts) == [
        "/etc/systemd/system/etcd.service.d/env.conf",
        "/etc/systemd/system/etcd.service.d/user.conf",
        "/run/systemd/system/etcd.service.d/pre.conf",
    ]
    assert dropins.kept_warnings("h", verdicts) == [
        "h: /etc/systemd/system/etcd.service.d/disk.conf (etcd.service) kept: it only sets "
        "RequiresMountsFor, After",
        "h: /etc/systemd/system/etcd.service.d/limits.conf (etcd.service) kept: it only sets "
        "LimitNOFILE, Nice, MemoryMax, RestartSec",
    ]


def test_a_timer_drop_in_moving_the_schedule_is_a_change():
    found = {"/etc/systemd/system/etcd-backup.timer.d/o.conf": b"[Timer]\nOnCalendar=2099-01-01\n"}
    (verdict,) = dropins.judge(found, ["etcd-backup.service", "etcd-backup.timer"])
    assert (verdict.unit, verdict.changes) == ("etcd-backup.timer", ("OnCalendar",))


def test_watched_environment_names():
    names = ["PATH", "LANG", "ETCD_UNSAFE_NO_FSYNC", "ETCDCTL_API", "GODEBUG", "container"]
    assert dropins.watched_env(names) == ["ETCDCTL_API", "ETCD_UNSAFE_NO_FSYNC", "GODEBUG"]


def test_a_running_etcd_with_a_variable_the_unit_does_not_set_restarts():
    wanted = ("/usr/bin/etcd", "--name=infra0")
    clean = Observation(args=wanted, env=("PATH", "LANG", "INVOCATION_ID"))
    assert systemd_decision(clean, wanted, has_data=True).action == ""
    tampered = Observation(args=wanted, env=("PATH", "ETCD_UNSAFE_NO_FSYNC"))
    decision = systemd_decision(tampered, wanted, has_data=True)
    assert decision.action == RESTART
    assert decision.reasons == (
        "runs with ETCD_UNSAFE_NO_FSYNC in its environment, not set by the unit",
    )


def items_and_state(cluster) -> tuple[managed.MemberItems, HostState]:
    host = cluster.members[1].host
    return managed.member_items(cluster, cluster.member(host), SURVEY), converged_state(
        cluster, host, SURVEY
    )


def test_drop_ins_are_moved_aside_and_variables_unset_before_systemd_reloads(
    make_cluster, make_settings
):
    cluster = make_cluster(settings_=make_settings(etcd_runtime="systemd"))
    items, state = items_and_state(cluster)
    assert items.etcd_overrides is not None
    assert items.etcd_unit is not None and items.etcd_service is not None
    etcd: list[managed.Item] = [items.etcd_unit, items.etcd_overrides, items.etcd_service]
    assert not managed.changes(etcd, state)
    limits = "/etc/systemd/system/etcd.service.d/limits.conf"
    kept = HostState(state.paths, state.units, state.asked, {limits: LIMITS})
    assert not managed.changes(etcd, kept)
    env = "/run/systemd/system/etcd.service.d/env.conf"
    tampered = HostState(
        state.paths,
        state.units,
        state.asked,
        {limits: LIMITS, env: NO_FSYNC},
        ("PATH", "ETCD_FORCE_NEW_CLUSTER"),
    )
    assert [i.target for i in managed.drifted(etcd, tampered)] == [items.etcd_overrides.target]
    todo = managed.changes(etcd, tampered)
    assert todo.files == {}
    assert todo.directives == (
        "move-aside",
        env,
        "unset-env",
        "ETCD_FORCE_NEW_CLUSTER",
        "daemon-reload",
    )
    # the backup step's item does not unset again: the etcd step did
    assert items.backup_overrides is not None and not items.backup_overrides.manager_env


def test_drop_ins_not_asked_about_are_not_in_place(make_cluster, make_settings):
    cluster = make_cluster(settings_=make_settings(etcd_runtime="static-pod"))
    items, state = items_and_state(cluster)
    assert items.etcd_overrides is None
    assert items.backup_overrides is not None and items.backup_overrides.manager_env
    assert items.backup_overrides.in_place(state)
    unknown = HostState(state.paths, state.units, frozenset(p for p in state.asked if ":" not in p))
    assert not items.backup_overrides.in_place(unknown)


def test_a_mode_change_on_a_unit_is_a_chmod_without_reload(make_cluster, make_settings):
    cluster = make_cluster(settings_=make_settings(etcd_runtime="systemd"))
    items, state = items_and_state(cluster)
    unit = items.etcd_unit
    assert unit is not None
    found = state.paths[unit.dest]
    chmodded = HostState(
        {**state.paths, unit.dest: PathState("f", "600", "root", "root", found.sha256)},
        state.units,
        state.asked,
    )
    todo = managed.changes([unit, items.etcd_service], chmodded)
    assert todo.files[unit.dest].content is None and todo.files[unit.dest].mode == "644"
    assert todo.directives == ()  # no daemon-reload, no restart
    linked = HostState(
        {**state.paths, unit.dest: PathState("o", "777", "root", "root")},
        state.units,
        state.asked,
    )
    assert managed.changes([unit], linked).files[unit.dest].content == unit.content()


STAND_IN_SYSTEMCTL = """#!/bin/sh
case "$1" in
show-environment) printf 'LANG=C.UTF-8\\nPATH=/usr/bin\\nETCD_UNSAFE_NO_FSYNC=true\\n' ;;
*) echo "$*" >>"$STATE/systemctl.log" ;;
esac
"""


def stand_in(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(STAND_IN_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(tmp_path)}


def test_host_state_reads_drop_ins_and_the_manager_environment(tmp_path):
    env = stand_in(tmp_path)
    d = tmp_path / "etcd.service.d"
    d.mkdir()
    (d / "env.conf").write_bytes(NO_FSYNC)
    (d / "old.conf.moved-aside-20261201T000000Z").write_bytes(NO_FSYNC)  # ignored
    (d / "empty.conf").write_bytes(b"")
    asked = [f"dropins:{d}", f"dropins:{tmp_path}/missing.d", "manager-env", f"dropins:{d}"]

    result = run_sh(host_state_command([], [], overrides=asked), env=env)

    assert result.returncode == 0, result.stderr
    state = parse_host_state(result.stdout.splitlines(), asked=asked)
    assert state.dropins == {f"{d}/empty.conf": b"", f"{d}/env.conf": NO_FSYNC}
    assert result.stdout.count(f"{d}/env.conf") == 1  # a directory named twice is read once
    assert state.manager_env == ("LANG", "PATH", "ETCD_UNSAFE_NO_FSYNC")
    env_lines = [line for line in result.stdout.splitlines() if line.startswith("env:")]
    assert env_lines == ["env:LANG", "env:PATH", "env:ETCD_UNSAFE_NO_FSYNC"]  # names only
    assert "C.UTF-8" not in result.stdout and "/usr/bin" not in result.stdout
    assert all(state.knows(arg) for arg in asked)


def test_apply_state_moves_a_drop_in_aside_and_unsets_a_variable(tmp_path):
    env = stand_in(tmp_path)
    dropin = tmp_path / "env.conf"
    dropin.write_bytes(NO_FSYNC)
    directives = ["move-aside", str(dropin), "unset-env", "ETCD_UNSAFE_NO_FSYNC", "daemon-reload"]

    result = run_sh(scripts.command("apply_state", *directives), env=env)

    assert result.returncode == 0, result.stderr
    assert not dropin.exists()
    (moved,) = tmp_path.glob("env.conf.moved-aside-*")
    assert moved.read_bytes() == NO_FSYNC  # kept, under a name systemd does not read
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "unset-environment -- ETCD_UNSAFE_NO_FSYNC",
        "daemon-reload",
    ]
    missing = run_sh(scripts.command("apply_state", "move-aside", str(dropin)), env=env)
    assert missing.returncode != 0
