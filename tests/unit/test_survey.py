"""The one-command survey: the host-state script under a real ``sh``, the managed-items
table, the section split, and the decision that a run changes nothing.

``host_state.sh`` runs against real files in a temporary directory and a stand-in
``systemctl`` (a script that answers ``show -p <property> --value <unit>``); the whole
survey command runs under ``sh`` on this machine against a temporary PKI directory.
"""

from __future__ import annotations

import dataclasses
import grp
import hashlib
import os
import pwd
import subprocess
import time
import types
from pathlib import Path
from typing import cast

import pytest
from pyinfra.api.host import Host

from etcd_cluster import scripts
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_SERVER, key_paths
from etcd_cluster.certs.plan import MemberPlan
from etcd_cluster.engine import converge, managed, operations
from etcd_cluster.engine.facts import file_modes_command, parse_file_modes
from etcd_cluster.engine.host_state import (
    HostState,
    PathState,
    UnitState,
    host_state_command,
    parse_host_state,
)
from etcd_cluster.engine.observe import Observation, certificate_sha256
from etcd_cluster.engine.plan import Plan
from etcd_cluster.engine.preflight import Survey
from etcd_cluster.engine.quiet import change_reasons
from etcd_cluster.engine.remote import Wanted
from etcd_cluster.engine.survey import parse_report, sections, survey_command
from etcd_cluster.errors import RemoteReadError
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.defrag import Maintenance
from etcd_cluster.etcd.restarts import Decision
from etcd_cluster.membership.changes import ADD, Change, MembershipPlan
from tests.unit.conftest import stand_in_tools

FAKE_SYSTEMCTL = """#!/bin/sh
# Stand-in for systemctl: "show -p Id -p SubState -p UnitFileState -- UNIT..." prints a
# block per unit, as systemctl does, from $STATE/UNIT.PROPERTY (empty when missing).
[ "$*" = "${*#show -p Id -p SubState -p UnitFileState -- }" ] && exit 2
shift 8
for unit; do
    echo "SubState=$(cat "$STATE/$unit.SubState" 2>/dev/null)"
    echo "Id=$unit"
    echo "UnitFileState=$(cat "$STATE/$unit.UnitFileState" 2>/dev/null)"
    echo
done
"""


def run_sh(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, check=False, env=env, timeout=60
    )


@pytest.fixture
def stand_in_systemctl(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH starts with the stand-in systemctl (state in tmp/state)."""
    env = stand_in_tools(tmp_path, systemctl=FAKE_SYSTEMCTL)
    state = Path(env["STATE"])
    (state / "etcd-backup.timer.SubState").write_text("waiting\n")
    (state / "etcd-backup.timer.UnitFileState").write_text("enabled\n")
    return env


def test_host_state_reports_files_directories_links_and_units(tmp_path, stand_in_systemctl):
    config = tmp_path / "kubeadmcfg.yaml"
    config.write_bytes(b"kind: InitConfiguration\n")
    config.chmod(0o640)
    key = tmp_path / "peer.key"
    key.write_bytes(b"not to be hashed")
    key.chmod(0o600)
    directory = tmp_path / "pki"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(config)
    missing = tmp_path / "missing"
    paths = [str(config), str(directory), str(link), str(missing), str(tmp_path / "sp ace")]
    units = ["etcd-backup.timer", "etcd.service"]
    (tmp_path / "sp ace").write_text("x")

    result = run_sh(host_state_command(paths, units, stat_only=[str(key)]), env=stand_in_systemctl)

    assert result.returncode == 0, result.stderr
    state = parse_host_state(result.stdout.splitlines(), asked=[*paths, str(key), *units])
    user = pwd.getpwuid(os.getuid()).pw_name  # whoever runs the tests owns the files
    group = grp.getgrgid(os.getgid()).gr_name
    digest = hashlib.sha256(b"kind: InitConfiguration\n").hexdigest()
    assert state.paths[str(config)] == PathState("f", "640", user, group, digest)
    assert state.paths[str(key)] == PathState("f", "600", user, group, "")  # never hashed
    assert state.paths[str(directory)].kind == "d"
    assert state.paths[str(link)].kind == "o"  # a link is not the file it points to
    assert state.paths[str(tmp_path / "sp ace")].kind == "f"  # spaces in paths survive
    assert state.absent(str(missing)) and not state.absent(str(config))
    assert not state.absent(str(tmp_path / "never asked"))  # unknown is not absent
    assert state.units["etcd-backup.timer"] == UnitState("waiting", "enabled")
    assert state.units["etcd.service"] == UnitState("", "")  # systemctl knew nothing
    assert state.file_matches(str(config), b"kind: InitConfiguration\n", "640", user, group)
    assert not state.file_matches(str(config), b"kind: other\n", "640", user, group)
    assert not state.file_matches(str(config), b"kind: InitConfiguration\n", "644", user, group)
    assert state.directory_matches(str(directory), "755", user, group)
    assert not state.directory_matches(str(config), "640", user, group)
    assert state.modes([str(key), str(missing)]) == {str(key): f"600 {user} {group}"}
    assert state.modes([str(tmp_path / "never asked")]) is None


@pytest.mark.parametrize(
    "line",
    [
        "a7b2  /etc/kubernetes/kubeadmcfg.yaml",  # sha256sum's line before its marker
        "Id=etcd.service",  # systemctl's line before its marker
        "@@other@@",
        "stat:regular file|644|root",
        "dropin:not*base64 /etc/systemd/system/etcd.service.d/x.conf",
        "sha256:a7b2  /etc/kubernetes/kubeadmcfg.yaml",
    ],
)
def test_host_state_output_it_cannot_place_is_refused(line):
    """sha256sum's and systemctl's lines are placed by the marker before them: anything
    else is an error, never a misread path or unit."""
    with pytest.raises(RemoteReadError, match=r"unexpected output from host_state\.sh"):
        parse_host_state(["stat:directory|755|root|root|/d", line, "@@sha256@@", "@@units@@"])
    with pytest.raises(RemoteReadError):
        parse_host_state(["@@sha256@@", "@@units@@", "Id=etcd.service", "no equals sign"])
    assert parse_host_state(["@@sha256@@", "@@units@@"]) == HostState()


def test_host_state_refuses_an_unknown_argument_before_printing(tmp_path):
    result = run_sh(scripts.command("host_state", f"path:{tmp_path}", "unti:etcd.service"))
    assert result.returncode == 2 and result.stdout == ""
    assert "unknown kind in unti:etcd.service" in result.stderr


def test_units_count_as_running_and_enabled_as_pyinfra_counts_them():
    state = HostState(
        units={
            "etcd-backup.timer": UnitState("waiting", "enabled"),  # a timer waits
            "etcd.service": UnitState("running", "enabled"),
            "kubelet.service": UnitState("dead", "disabled"),
        },
        asked=frozenset({"etcd-backup.timer", "etcd.service", "kubelet.service"}),
    )
    assert state.unit_matches("etcd-backup.timer", running=True, enabled=True)
    assert state.unit_matches("etcd.service", running=True, enabled=True)
    assert not state.unit_matches("kubelet.service", running=True, enabled=True)
    assert not state.unit_matches("other.service", running=False, enabled=False)


def converged_state(cluster: Cluster, host: str, survey: Survey) -> HostState:
    """The state a member has when every managed item is in place."""
    items = managed.member_items(cluster, cluster.member(host), survey)
    paths: dict[str, PathState] = {}
    units: dict[str, UnitState] = {}
    for item in items.all():
        if isinstance(item, managed.TemplateFile):
            digest = hashlib.sha256(item.content()).hexdigest()
            paths[item.dest] = PathState("f", item.mode, "root", "root", digest)
        elif isinstance(item, managed.Directory):
            paths[item.path] = PathState("d", item.mode, "root", "root")
        elif isinstance(item, managed.Service):
            units[item.unit] = UnitState("running", "enabled")
    asked_paths, asked_units = managed.paths_and_units(cluster)
    overrides = managed.survey_overrides(cluster)
    return HostState(paths, units, frozenset([*asked_paths, *asked_units, *overrides]))


SURVEY = Survey(present=["curl", "openssl", "etcdctl", "/usr/bin/etcd"], etcd_version="3.5.16")


@pytest.mark.parametrize("runtime", ["systemd", "static-pod"])
def test_the_survey_asks_about_every_managed_item(make_settings, make_cluster, runtime):
    cluster = make_cluster(settings_=make_settings(etcd_runtime=runtime))
    paths, units = managed.paths_and_units(cluster)
    overrides = managed.survey_overrides(cluster)
    for member in cluster.members:
        for item in managed.member_items(cluster, member, SURVEY).all():
            if isinstance(item, managed.Overrides):
                assert set(item.asked()) <= set(overrides)
            else:
                assert item.target in [*paths, *units]
    assert "dropins:/etc/systemd/system/etcd-backup.timer.d" in overrides
    assert ("dropins:/run/systemd/system/etcd.service.d" in overrides) == (runtime == "systemd")
    assert overrides.count("manager-env") == 1
    assert ETCD_CA.key_path(cluster.settings.pki_dir) in paths  # the first member's too
    assert ("etcd.service" in units) == (runtime == "systemd")
    assert ("kubelet.service" in units) == (runtime == "static-pod")


def test_the_survey_never_reads_a_private_key_whole(make_settings, make_cluster):
    """Keys are managed items too (mode, owner, ca.key's absence), but the survey only stats
    them; their public keys' hashes come from read_files, nothing hashes the key file."""
    cluster = make_cluster(settings_=make_settings(etcd_runtime="systemd"))
    command = survey_command(cluster, cluster.members[0], with_probe=True)
    keys = key_paths(cluster.settings.pki_dir)
    assert ETCD_CA.key_path(cluster.settings.pki_dir) in keys
    for key in keys:
        assert f"stat:{key}" in command
        assert f"path:{key}" not in command and f"content:{key}" not in command


@pytest.fixture
def systemd_cluster(make_settings, make_cluster) -> Cluster:
    return make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))


def test_only_items_out_of_place_are_drifted(systemd_cluster):
    cluster = systemd_cluster
    host = cluster.members[1].host
    state = converged_state(cluster, host, SURVEY)
    items = managed.member_items(cluster, cluster.member(host), SURVEY).all()
    assert managed.drifted(items, state) == []

    unit = managed.member_items(cluster, cluster.member(host), SURVEY).etcd_unit
    assert unit is not None
    wrong_mode = dataclasses.replace(state.paths[unit.dest], mode="600")
    stopped = {**state.units, "etcd-backup.timer": UnitState("dead", "enabled")}
    drifted = HostState({**state.paths, unit.dest: wrong_mode}, stopped, state.asked)
    assert [i.target for i in managed.drifted(items, drifted)] == [
        unit.dest,
        "etcd-backup.timer",
    ]
    # A newer etcd changes the unit's content: the same file is out of place.
    newer = dataclasses.replace(SURVEY, etcd_version="3.5.30")
    newer_items = managed.member_items(cluster, cluster.member(host), newer).all()
    assert [i.target for i in managed.drifted(newer_items, state)] == [unit.dest]


def test_a_stray_ca_key_is_not_a_managed_item_removed_with_the_step(cluster):
    """ca.key on another host is removed only as the run's last step (ca_key.py)."""
    host = cluster.members[2].host
    state = converged_state(cluster, host, SURVEY)
    key = ETCD_CA.key_path(cluster.settings.pki_dir)
    stray = HostState(
        {**state.paths, key: PathState("f", "600", "root", "root")}, state.units, state.asked
    )
    items = managed.member_items(cluster, cluster.member(host), SURVEY).all()
    assert managed.drifted(items, stray) == []
    assert key not in [item.target for item in items]


def quiet_plan(cluster: Cluster) -> Plan:
    """A plan in which every member is converged and runs what it should."""
    server = ETCD_SERVER.cert_path(cluster.settings.pki_dir)
    return Plan(
        cluster=cluster,
        members={
            m.host: MemberPlan(m, {server: Wanted(b"cert", "644")}, {}) for m in cluster.members
        },
        control_plane_files={},
        ca_created=False,
        surveys={m.host: SURVEY for m in cluster.members},
        observations={m.host: Observation(args=("etcd",)) for m in cluster.members},
        host_states={m.host: converged_state(cluster, m.host, SURVEY) for m in cluster.members},
        items={m.host: managed.member_items(cluster, m, SURVEY) for m in cluster.members},
    )


def test_a_converged_cluster_has_nothing_to_change_and_each_cause_is_named(systemd_cluster):
    cluster = systemd_cluster
    plan = quiet_plan(cluster)
    for member_plan in plan.members.values():  # certificates as wanted
        member_plan.current.update({p: _remote(w) for p, w in member_plan.wanted.items()})
    nothing = {m.host: Decision() for m in cluster.members}
    assert change_reasons(plan, nothing) == []

    host = cluster.members[1].host
    restart = {**nothing, host: Decision("restart", ("runs with other flags",))}
    assert change_reasons(plan, restart) == [f"{host}: restart: runs with other flags"]

    plan.members[host].current.clear()  # its certificate is missing
    plan.observations[host] = Observation(args=("etcd",), needs_daemon_reload=True)
    plan.surveys[host] = dataclasses.replace(SURVEY, present=["openssl"])  # curl to install
    plan.membership = MembershipPlan(
        changes=[Change(ADD, "infra3", "https://10.0.0.9:2380", "10.0.0.9")]
    )
    plan.upgrading = [host]
    plan.ca_key_strays = (host,)
    reasons = change_reasons(plan, nothing)
    assert reasons[:3] == [
        Change(ADD, "infra3", "https://10.0.0.9:2380", "10.0.0.9").describe(),
        f"upgrade of {host}",
        f"ca.key to remove from {host}",
    ]
    assert f"{host}: packages or an etcd release to install" in reasons
    assert f"{host}: 1 certificate or key file(s) to write" in reasons
    assert f"{host}: systemd holds an older etcd unit" in reasons


def test_a_defragmentation_or_a_recovery_the_probe_asks_for_is_a_change(systemd_cluster):
    plan = quiet_plan(systemd_cluster)
    for member_plan in plan.members.values():
        member_plan.current.update({p: _remote(w) for p, w in member_plan.wanted.items()})
    nothing = {m.host: Decision() for m in systemd_cluster.members}
    reason = "10.0.0.7: defragment infra1 (300.0 MB of 400.0 MB free, 75%)"
    plan.maintenance = Maintenance(due=("10.0.0.7",), reasons=(reason,))
    assert change_reasons(plan, nothing) == [reason]


def _remote(want: Wanted):
    from etcd_cluster.engine.remote import RemoteFile

    return RemoteFile(want.content, want.mode, want.user, want.group)


def test_sections_split_the_one_output():
    lines = ["noise", "@@section@@files", "a", "@@section@@survey", "b", "c", "@@section@@state"]
    assert sections(lines) == {"files": ["a"], "survey": ["b", "c"], "state": []}


def test_the_whole_survey_runs_under_sh_and_parses(tmp_path, make_settings, make_cluster):
    """Against a temporary PKI directory on this machine: files read, keys hashed, absent
    tools tolerated, every section present, nothing fails."""
    settings = make_settings(
        etcd_pki_dir=str(tmp_path / "pki"),
        etcd_kubeadm_config_path=str(tmp_path / "kubeadmcfg.yaml"),
        etcd_data_dir=str(tmp_path / "data"),
    )
    cluster = make_cluster(settings_=settings)
    (tmp_path / "pki" / "etcd").mkdir(parents=True)
    ca_crt = Path(ETCD_CA.cert_path(settings.pki_dir))
    ca_crt.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "kubeadmcfg.yaml").write_text("kind: InitConfiguration\n")

    command = survey_command(cluster, cluster.first, with_probe=True)
    assert "is-active" not in command  # observe_etcd.sh's systemctl says whether etcd runs
    result = run_sh(command)

    report = parse_report(cluster.first.host, cluster, result.stdout.splitlines(), result.stderr)
    assert report.files[str(ca_crt)].content == b"-----BEGIN CERTIFICATE-----\n"
    assert report.files[settings.kubeadm_config_path].content == b"kind: InitConfiguration\n"
    assert report.state.paths[settings.kubeadm_config_path].kind == "f"
    assert report.state.absent(settings.data_dir)
    assert report.observation.clock is not None  # observe ran
    assert report.survey.machine  # the survey ran
    assert len(report.probe) == len(cluster.members)  # one line per endpoint, unanswered


def test_certificate_fingerprints_match_the_observe_scripts(ca):
    """The survey fingerprints the certificate files it read in Python, as observe_etcd.sh
    does with openssl on the host: sha256 of the DER."""
    pem = ca.cert_pem
    der = subprocess.run(
        ["openssl", "x509", "-outform", "DER"], input=pem, capture_output=True, check=True
    ).stdout
    assert certificate_sha256(pem) == hashlib.sha256(der).hexdigest()
    assert certificate_sha256(b"not a certificate") == ""
    assert certificate_sha256(None) == ""


def test_changes_write_drifted_files_and_touch_units_only_as_needed(systemd_cluster):
    cluster = systemd_cluster
    host = cluster.members[1].host
    items = managed.member_items(cluster, cluster.member(host), SURVEY)
    state = converged_state(cluster, host, SURVEY)
    step7 = [*items.private_dirs, items.etcd_unit, items.etcd_service]
    assert not managed.changes(step7, state)  # in place: nothing

    unit = items.etcd_unit
    assert unit is not None
    stale = {**state.paths, unit.dest: dataclasses.replace(state.paths[unit.dest], sha256="0")}
    stopped = {"etcd.service": UnitState("dead", "disabled")}
    todo = managed.changes(step7, HostState(stale, stopped, state.asked))
    assert list(todo.files) == [unit.dest]
    assert todo.files[unit.dest].content == unit.content()
    # enabled without a reload: one follows, if systemd holds the unit otherwise than its file
    reload = ("daemon-reload-for", f"etcd.service={unit.dest}")
    assert todo.directives == (
        *("systemctl", "enable", "etcd.service"),
        *reload,
        *("systemctl", "start", "etcd.service"),
    )
    enabled = {"etcd.service": UnitState("dead", "enabled")}
    assert managed.changes(step7, HostState(stale, enabled, state.asked)).directives == (
        *reload,  # nothing enabled: the same before the unit starts
        *("systemctl", "start", "etcd.service"),
    )

    data = items.private_dirs[0]
    loose = {**state.paths, data.path: dataclasses.replace(state.paths[data.path], mode="755")}
    assert managed.changes(step7, HostState(loose, state.units, state.asked)).directives == (
        *("dir", "700", "root", "root", data.path),
    )
    # systemd still holds an older unit: reload although no file is written
    assert managed.changes(step7, state, reload=True).directives == ("daemon-reload",)


def test_changes_restart_kubelet_when_its_files_are_written(cluster):
    host = cluster.members[0].host
    items = managed.member_items(cluster, cluster.member(host), SURVEY)
    state = converged_state(cluster, host, SURVEY)
    kubelet = [*items.kubelet_files, items.kubelet_service]
    assert not managed.changes(kubelet, state, restart_when_written=["kubelet.service"])
    config = items.kubelet_files[0]
    gone = {p: s for p, s in state.paths.items() if p != config.dest}
    todo = managed.changes(
        kubelet, HostState(gone, state.units, state.asked), restart_when_written=["kubelet.service"]
    )
    assert list(todo.files) == [config.dest]
    assert todo.directives == ("daemon-reload", "systemctl", "restart", "kubelet.service")


APPLY_LOG_SYSTEMCTL = """#!/bin/sh
echo "$*${SYSTEMCTL_SKIP_SYSV:+ (native only)}" >> "$STATE/systemctl.log"
"""


def test_apply_state_runs_its_directives_in_order_and_stops_at_the_first_failure(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(APPLY_LOG_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(tmp_path)}
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    target = tmp_path / "a" / "b"
    stray = tmp_path / "ca.key"
    stray.write_text("x")
    directives = ["dir", "700", user, group, str(target), "absent", str(stray), "daemon-reload"]
    directives += ["systemctl", "start", "etcd.service", "systemctl", "enable", "etcd.service"]
    directives += ["systemctl", "disable", "etcd-backup.timer"]

    result = run_sh(scripts.command("apply_state", *directives), env=env)

    assert result.returncode == 0, result.stderr
    assert oct(target.stat().st_mode & 0o777) == "0o700"
    assert oct(target.parent.stat().st_mode & 0o777) == "0o755"  # parents as mkdir -p makes them
    assert not stray.exists()
    assert (tmp_path / "systemctl.log").read_text().splitlines() == [
        "daemon-reload",
        "start -- etcd.service",
        # no SysV sync (update-rc.d is slow), and no reload of its own: one follows all
        "enable --no-reload -- etcd.service (native only)",
        "disable --no-reload -- etcd-backup.timer",
    ]
    refused = run_sh(scripts.command("apply_state", "systemctl", "mask", "etcd"), env=env)
    assert refused.returncode == 2 and "unknown systemctl verb mask" in refused.stderr
    failed = run_sh(
        scripts.command(
            "apply_state", "dir", "700", "no-such-user", group, str(target), "daemon-reload"
        ),
        env=env,
    )
    assert failed.returncode != 0
    assert (tmp_path / "systemctl.log").read_text().count("daemon-reload") == 1  # not reached


SHOW_SYSTEMCTL = """#!/bin/sh
# "show": prints $STATE/show (systemd's blocks of properties); any call is logged
echo "$*" >> "$STATE/systemctl.log"
[ "$1" = show ] && cat "$STATE/show"
exit 0
"""


@pytest.mark.parametrize(
    ("shown", "reloads"),
    [
        # loaded for the first time from the files just written (a fresh host): no reload
        (
            "LoadState=loaded\nFragmentPath={a}\nNeedDaemonReload=no\n\n"
            "FragmentPath={b}\nNeedDaemonReload=no\nLoadState=loaded\n",
            False,
        ),
        # a package's unit of the same name, still held from /lib
        (
            "LoadState=loaded\nFragmentPath=/lib/systemd/system/etcd.service\n"
            "NeedDaemonReload=no\n\nLoadState=loaded\nFragmentPath={b}\nNeedDaemonReload=no\n",
            True,
        ),
        # held from the file, which changed since
        (
            "LoadState=loaded\nFragmentPath={a}\nNeedDaemonReload=yes\n\n"
            "LoadState=loaded\nFragmentPath={b}\nNeedDaemonReload=no\n",
            True,
        ),
        # not found (a stub from before the file), masked, or a unit missing from the answer
        (
            "LoadState=not-found\nFragmentPath=\nNeedDaemonReload=no\n\n"
            "LoadState=loaded\nFragmentPath={b}\nNeedDaemonReload=no\n",
            True,
        ),
        ("LoadState=loaded\nFragmentPath={a}\nNeedDaemonReload=no\n", True),
    ],
)
def test_apply_state_reloads_systemd_only_when_it_holds_a_unit_otherwise(tmp_path, shown, reloads):
    a, b = "/etc/systemd/system/etcd.service", "/etc/systemd/system/etcd-backup.timer"
    env = stand_in_tools(tmp_path, systemctl=SHOW_SYSTEMCTL)
    Path(env["STATE"], "show").write_text(shown.format(a=a, b=b))
    units = f"etcd.service={a},etcd-backup.timer={b}"
    directives = ["daemon-reload-for", units, "systemctl", "start", "etcd.service"]
    result = run_sh(scripts.command("apply_state", *directives), env=env)
    assert result.returncode == 0, result.stderr
    calls = Path(env["STATE"], "systemctl.log").read_text().splitlines()
    show = "show -p LoadState -p FragmentPath -p NeedDaemonReload -- etcd.service etcd-backup.timer"
    assert calls == [show, *(["daemon-reload"] if reloads else []), "start -- etcd.service"]


def test_sections_run_at_once_and_print_in_argument_order():
    """Three parts of 0.4 s each take about 0.4 s, not 1.2 s; outputs keep their order."""
    parts = ["slow", "sleep 0.4; echo a", "err", "sleep 0.4; echo b; echo oops >&2", "fast"]
    parts += ["sleep 0.4; echo c"]
    start = time.monotonic()
    result = run_sh(scripts.command("sections", *parts))
    elapsed = time.monotonic() - start
    assert result.returncode == 0
    assert sections(result.stdout.splitlines()) == {"slow": ["a"], "err": ["b"], "fast": ["c"]}
    assert result.stderr == "oops\n"
    assert elapsed < 1.0, f"parts ran one after the other ({elapsed:.2f} s)"


def test_sections_leave_a_part_nothing_of_their_own_and_clean_up(tmp_path):
    """Parts are evaluated in subshells of sections.sh (no sh started for each): they see
    none of its variables, arguments or options (``set -u``), as under ``sh -c``; an exit
    ends only that part; no stderr, none printed; the temporary directory is removed."""
    seen = 'echo "${dir-none} ${count-none} ${part-none} ${sections_command-none} $# $-"'
    seen += '; echo "$undefined."'
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = scripts.command("sections", "seen", seen, "exit", "echo a; exit 3; echo b")
    result = run_sh(command, env=env)
    assert result.returncode == 0 and result.stderr == ""
    found = sections(result.stdout.splitlines())
    assert found["exit"] == ["a"]
    assert found["seen"][0].startswith("none none none none 0 ") and "u" not in found["seen"][0]
    assert found["seen"][1] == "."
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("then", "look", "observed"),
    [
        ("true", "printf 'now:1\\narg:etcd\\n'", ["now:1", "arg:etcd"]),
        ("", "printf 'now:1\\n'", ["now:1"]),
        ("true", "printf 'now:1\\n'; false", None),  # cut short: not used
    ],
)
def test_the_start_observes_etcd_in_its_own_round_trip(then, look, observed):
    """The etcd unit's operation observes what etcd runs once it started (the restart
    passes use it); a failing look fails nothing, a failing apply is not looked past."""
    result = run_sh(converge.and_observe(then, look))
    assert result.returncode == 0
    assert converge.observed_lines(result.stdout) == observed
    failed = run_sh(converge.and_observe("false", look))
    assert failed.returncode != 0 and converge.observed_lines(failed.stdout) is None


STAT_LOG = """#!/bin/sh
echo "$#" >> "$STATE/stat.log"
exec /usr/bin/stat "$@"
"""


def test_file_modes_read_back_in_a_writes_round_trip(tmp_path):
    """Step 6's reading (``FileModes``), as the certificates' write asks it after its own
    command: each regular file's mode and owner in the order asked, nothing for a missing
    path or a directory, all in one ``stat`` (none when no file is there)."""
    env = stand_in_tools(tmp_path, stat=STAT_LOG)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    key = tmp_path / "peer.key"
    key.write_text("x")
    key.chmod(0o600)
    odd = tmp_path / "it's a -n cert.crt"
    odd.write_text("y")
    odd.chmod(0o644)
    gone = tmp_path / "ca.key"
    asked = [str(odd), str(gone), str(tmp_path), str(key)]
    look = f"echo {operations.MODES_SEEN} && {{ {file_modes_command(asked)}; }}"
    result = run_sh(f"true && {look}", env=env)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0] == operations.MODES_SEEN
    assert [line.rsplit(" ", 3)[0] for line in lines[1:]] == [str(odd), str(key)]
    assert parse_file_modes(lines[1:]) == {
        str(odd): f"644 {user} {group}",
        str(key): f"600 {user} {group}",
    }
    assert (tmp_path / "state" / "stat.log").read_text().split() == ["5"]  # -c, format, --, 2
    none = run_sh(file_modes_command([str(gone)]), env=env)
    assert none.returncode == 0 and none.stdout == ""
    assert (tmp_path / "state" / "stat.log").read_text().split() == ["5"]


def present(*items: managed.Item | None) -> list[managed.Item]:
    return [item for item in items if item is not None]


def test_a_later_step_trusts_the_survey_after_this_runs_own_writes_of_other_items(
    systemd_cluster, monkeypatch
):
    """A first deploy writes the kubeadm config, then the certificates: the etcd unit's and
    the snapshots' steps still trust what the survey read of their own items (no command
    to read them again), but not after an operation of another kind changed the host, nor
    after a write of one of their items."""
    cluster = systemd_cluster
    host = cluster.members[0].host
    items = managed.member_items(cluster, cluster.member(host), SURVEY)
    start = present(*items.private_dirs, items.etcd_unit, items.etcd_overrides, items.etcd_service)
    backup = present(
        items.backup_dir, *items.backup_files, items.backup_overrides, items.backup_timer
    )
    assert items.etcd_unit is not None
    assert converge.touched(start) >= {items.etcd_unit.dest, "etcd.service"}
    assert "drop-ins:etcd.service" in converge.touched(start)
    plan = quiet_plan(cluster)
    target = cast(Host, types.SimpleNamespace(name=host))
    changed = {"count": 0}
    monkeypatch.setattr(converge, "changes_this_run", lambda _: changed["count"])

    def write(items_written: list[managed.Item]) -> None:
        plan.note_written(host, converge.touched(items_written))
        changed["count"] += 1

    assert converge.only_other_writes(plan, target, start)  # nothing changed yet
    write([items.kubeadm_config])
    write(list(items.pki_dirs))
    assert converge.only_other_writes(plan, target, start)
    write(start)
    assert converge.only_other_writes(plan, target, backup)
    assert not converge.only_other_writes(plan, target, start)  # its own items: read again
    changed["count"] += 1  # e.g. a package installed, a shell command: read again
    assert not converge.only_other_writes(plan, target, backup)


def test_files_ride_in_another_command_only_while_the_survey_says_what_to_write(
    systemd_cluster, monkeypatch
):
    from pyinfra.context import ctx_host

    from etcd_cluster.engine import plan as plan_module

    cluster = systemd_cluster
    plan = quiet_plan(cluster)
    name = cluster.members[1].host
    items = plan.items[name]
    config = items.kubeadm_config
    real = types.SimpleNamespace(config=types.SimpleNamespace(DIFF=False))
    real.inventory = types.SimpleNamespace(state=real)
    monkeypatch.setitem(plan_module._plans, id(real), plan)

    def carried(chosen):
        with ctx_host.use(types.SimpleNamespace(name=name, state=real)):
            return converge.carried(chosen)

    assert carried([config]) == {}  # in place: nothing to carry, nothing of its own either
    surveyed = plan.host_states[name]
    missing = {p: f for p, f in surveyed.paths.items() if p != config.dest}
    plan.host_states[name] = HostState(missing, surveyed.units, surveyed.asked)
    assert carried([config]) == {
        config.dest: Wanted(config.content(), config.mode, config.user, config.group)
    }
    unit = items.etcd_service
    assert unit is not None
    stopped = {**surveyed.units, unit.unit: UnitState("dead", "enabled")}
    plan.host_states[name] = HostState(missing, stopped, surveyed.asked)
    assert carried([config, unit]) is None  # a unit to start: only install does that
    plan.surveys[name] = dataclasses.replace(SURVEY, binary_problems=("etcd: size differs",))
    assert carried([config]) is None  # the survey no longer holds: read again, own command


def test_the_modes_gate_stops_the_command_unless_the_expected_files_are_as_listed(
    tmp_path, monkeypatch
):
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    key, crt, stray = tmp_path / "server.key", tmp_path / "server.crt", tmp_path / "ca.key"
    key.write_text("k")
    key.chmod(0o600)
    crt.write_text("c")
    crt.chmod(0o644)
    expected = {str(key): f"600 {user} {group}", str(crt): f"644 {user} {group}"}
    monkeypatch.setattr(operations, "expected_modes", lambda plan, host: (expected, [str(stray)]))

    def gate() -> tuple[bool, list[str]]:
        done = run_sh(f"{operations.modes_gate(None, None)} && echo started")  # type: ignore[arg-type]
        seen = converge.observed_lines(done.stdout, mark=operations.MODES_GATE)
        assert seen is not None  # the modes are printed between the marks either way
        problems = operations.gate_problems(None, None, seen)  # type: ignore[arg-type]
        assert ("started" in done.stdout) == (done.returncode == 0)
        return done.returncode == 0, problems

    assert gate() == (True, [])
    crt.chmod(0o666)
    assert gate() == (False, [f"{crt} is 666 {user} {group}, expected 644 {user} {group}"])
    crt.chmod(0o644)
    stray.write_text("x")
    assert gate() == (False, [f"{stray} must not be on this host"])
    stray.unlink()
    key.unlink()
    assert gate() == (False, [f"{key} is missing"])


def test_one_upload_only_for_a_member_of_a_new_cluster_whose_etcd_it_starts(systemd_cluster):
    cluster = systemd_cluster
    plan = quiet_plan(cluster)  # certificates to write on every member
    name = cluster.members[1].host
    assert plan.starts_new_cluster()
    assert not plan.one_upload(name)  # etcd runs here: no first start to ride with
    surveyed = plan.host_states[name]
    stopped = {**surveyed.units, "etcd.service": UnitState("dead", "enabled")}
    plan.host_states[name] = HostState(surveyed.paths, stopped, surveyed.asked)
    assert plan.one_upload(name)
    plan.members[name] = MemberPlan(cluster.members[1], {}, {})
    assert not plan.one_upload(name)  # nothing to write
    plan = dataclasses.replace(plan, members=quiet_plan(cluster).members)
    other = cluster.members[2].host
    plan.surveys[other] = dataclasses.replace(SURVEY, has_data=True)
    assert not plan.starts_new_cluster()  # members start at once, as before
    assert not plan.one_upload(name)  # not a new cluster: step 6 stays before step 7
    del plan.surveys[other]
    assert not plan.starts_new_cluster()
    assert not plan.one_upload(name)  # outside --limit: taken to hold data
    plan.surveys[other] = SURVEY
    assert plan.one_upload(name)
    plan.membership = MembershipPlan(
        changes=[Change(ADD, "infra3", "https://10.0.0.9:2380", "10.0.0.9")]
    )
    assert not plan.starts_new_cluster()  # a member joins a cluster that exists
    assert not plan.one_upload(name)
    plan.membership = MembershipPlan()
    plan.surveys[name] = dataclasses.replace(SURVEY, binary_problems=("etcd: size differs",))
    assert not plan.one_upload(name)  # the survey no longer holds
