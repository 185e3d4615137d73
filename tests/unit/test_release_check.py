"""The installed etcd release against its verified archive: the survey's part
(``check_release.sh``) under a real shell, the install's record, the decision, and the
restart that refuses a binary the record does not list."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from etcd_cluster import scripts
from etcd_cluster.engine.managed import release_to_install
from etcd_cluster.engine.remote import _END
from etcd_cluster.engine.survey import parse_report, survey_command
from etcd_cluster.etcd.release_check import (
    ReleaseCheck,
    check_command,
    package_problems,
    packaged,
    parse_check,
    record_path,
    release_problems,
    verification,
)

VERSION = "3.5.16"
ARCHIVE = "a" * 64
WHERE = "/opt/etcd/v3.5.16"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def installed(**changes) -> ReleaseCheck:
    sums = {"etcd": sha("etcd"), "etcdctl": sha("etcdctl"), "etcdutl": sha("etcdutl")}
    fields = {
        "directory": "755 root root",
        "archive_sha256": ARCHIVE,
        "recorded": dict(sums),
        "found": dict(sums),
        "modes": {name: "755 root root" for name in sums},
    }
    return ReleaseCheck(**{**fields, **changes})


def test_a_release_as_its_archive_held_it_needs_nothing():
    assert release_problems(installed(), VERSION, ARCHIVE) == []
    assert release_problems(ReleaseCheck(), VERSION, ARCHIVE) == []  # not installed yet


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (installed(found={"etcd": "f" * 64, "etcdctl": sha("etcdctl"), "etcdutl": sha("etcdutl")}),
         f"{WHERE}/etcd has sha256 {'f' * 64}, the archive's is {sha('etcd')}"),
        (installed(found={"etcd": sha("etcd"), "etcdutl": sha("etcdutl")}),
         f"{WHERE}/etcdctl is missing"),
        (installed(directory="777 root root"), f"{WHERE} is 777 root root, wanted 755 root root"),
        (installed(directory="755 nobody root"), "wanted 755 root root"),
        (installed(modes={"etcd": "775 root root"}), f"{WHERE}/etcd is 775 root root"),
        (installed(archive_sha256=""), "no record of the archive"),
        (installed(archive_sha256="b" * 64), "installed from another archive"),
    ],
    ids=["swapped", "missing", "dir-mode", "dir-owner", "binary-mode", "no-record", "other"],
)  # fmt: skip
def test_each_difference_reinstalls_from_the_archive(check, reason):
    problems = release_problems(check, VERSION, ARCHIVE)
    assert any(reason in p for p in problems), problems


def test_an_archive_without_etcdutl_is_fine_but_an_unrecorded_one_is_not():
    sums = {"etcd": sha("etcd"), "etcdctl": sha("etcdctl")}
    modes = {name: "755 root root" for name in sums}
    old = installed(recorded=sums, found=dict(sums), modes=modes)
    assert release_problems(old, VERSION, ARCHIVE) == []
    planted = installed(recorded=sums, found={**sums, "etcdutl": "e" * 64}, modes=modes)
    assert release_problems(planted, VERSION, ARCHIVE) == [f"{WHERE}/etcdutl is not in the record"]


def install(tmp_path: Path, binaries=("etcd", "etcdctl", "etcdutl")) -> tuple[Path, Path, Path]:
    """An archive in etcd's layout whose etcd says its version, installed by
    install_release.sh into tmp/opt/etcd with its record."""
    top = tmp_path / "build" / f"etcd-v{VERSION}-linux-amd64"
    top.mkdir(parents=True)
    for name in binaries:
        (top / name).write_text(f"#!/bin/sh\necho 'etcd Version: {VERSION}'\n# {name}\n")
        (top / name).chmod(0o755)
    archive = tmp_path / "etcd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=top.name)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root, record = tmp_path / "opt/etcd", tmp_path / "opt/etcd/archives/v3.5.16.sha256"
    argv = ["sh", str(scripts.path("install_release")), str(archive), digest, VERSION, "amd64"]
    done = subprocess.run(
        [*argv, str(root), str(record)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return root / f"v{VERSION}", record, archive


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, Path, Path]:
    return install(tmp_path)


def test_an_archive_without_etcdutl_is_recorded_too(tmp_path):
    directory, record, _ = install(tmp_path, ("etcd", "etcdctl"))
    assert len(record.read_text().splitlines()) == 3
    found = check(directory, record)
    assert found.recorded == found.found and set(found.found) == {"etcd", "etcdctl"}


def check(directory: Path, record: Path) -> ReleaseCheck:
    argv = ["sh", str(scripts.path("check_release")), str(directory), str(record)]
    env = {**os.environ, **scripts.environment()}
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    return parse_check(done.stdout.splitlines())


def test_the_install_records_the_archives_checksums_and_the_survey_matches_them(release):
    directory, record, archive = release
    lines = record.read_text().splitlines()
    assert lines[0] == f"archive {hashlib.sha256(archive.read_bytes()).hexdigest()}"
    etcd = hashlib.sha256((directory / "etcd").read_bytes()).hexdigest()
    assert f"{etcd}  etcd" in lines
    found = check(directory, record)
    assert found.recorded == found.found and set(found.found) == {"etcd", "etcdctl", "etcdutl"}
    assert found.directory.startswith("755 ")
    assert found.archive_sha256 == lines[0].split()[1]


def test_the_survey_sees_a_swapped_binary(release):
    directory, record, _ = release
    swapped = directory / "etcd.new"
    swapped.write_text("#!/bin/sh\necho other\n")
    os.replace(swapped, directory / "etcd")
    found = check(directory, record)
    assert found.found["etcd"] != found.recorded["etcd"]
    assert check(directory.parent / "v9.9.9", record) == ReleaseCheck()  # not installed


def restart(binary: Path, record: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text('#!/bin/sh\necho "systemctl $*"\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    argv = ["sh", str(scripts.path("restart_etcd")), "etcd", str(binary), str(record)]
    env = {**env, **scripts.environment()}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def test_the_restart_goes_only_into_the_verified_binary(release, tmp_path):
    directory, record, _ = release
    done = restart(directory / "etcd", record, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "systemctl restart etcd"
    (directory / "etcd").write_text("#!/bin/sh\necho other\n")
    refused = restart(directory / "etcd", record, tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "is not the binary of the verified archive" in refused.stderr


def test_the_survey_command_names_the_release_and_its_record():
    assert record_path(VERSION) == "/opt/etcd/archives/v3.5.16.sha256"
    command = check_command(VERSION)
    assert command.endswith("check_release /opt/etcd/v3.5.16 /opt/etcd/archives/v3.5.16.sha256")


def test_the_survey_asks_only_with_a_chosen_release_and_a_mismatch_reinstalls(
    make_settings, make_cluster
):
    """One more part of the one survey command (no extra command); its findings make the
    survey say that the release must be installed again, so the run is not quiet."""
    plain = make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    assert "check_release" not in survey_command(plain, plain.first, with_probe=False)
    settings = make_settings(
        etcd_runtime="systemd", etcd_version=VERSION, etcd_archive_sha256={VERSION: ARCHIVE}
    )
    cluster = make_cluster(settings_=settings)
    assert "check_release" in survey_command(cluster, cluster.first, with_probe=False)
    lines = [
        "@@section@@files",
        _END,
        "@@section@@survey",
        f"release:{VERSION}",
        "@@section@@release",
        "dir:755 root root",
        f"record:archive {ARCHIVE}",
        f"record:{sha('etcd')}  etcd",
        f"record:{sha('etcdctl')}  etcdctl",
        "file:755 root root etcd",
        "file:755 root root etcdctl",
        f"sum:{sha('etcdctl')} etcdctl",
    ]
    intact = parse_report(cluster.first.host, cluster, [*lines, f"sum:{sha('etcd')} etcd"])
    assert intact.survey.binary_problems == ()
    assert not release_to_install(settings, intact.survey)
    swapped = parse_report(cluster.first.host, cluster, [*lines, f"sum:{'f' * 64} etcd"])
    assert swapped.survey.binary_problems == (
        f"{WHERE}/etcd has sha256 {'f' * 64}, the archive's is {sha('etcd')}",
    )
    assert release_to_install(settings, swapped.survey)  # so survey_holds says no: not quiet


# --- Debian's package: dpkg's own checksums ---------------------------------------------------

FAKE_DPKG = """#!/bin/sh
# Stand-in for dpkg --verify and dpkg-query: $STATE/verify is what dpkg --verify prints.
case "$1" in
--verify) echo "$2" >>"$STATE/verified" && cat "$STATE/verify" ;;
-W)
    [ -f "$STATE/installed" ] || exit 1
    case "$3" in
    *Status*) printf 'install ok installed 3.4.23-1+b4' ;;
    *) printf '3.4.23-1+b4' ;;
    esac
    ;;
esac
"""
FAKE_APT = """#!/bin/sh
# Stand-in for apt-get: records its arguments and whether policy-rc.d held services off.
# Like apt, an install it cannot download (no package lists) does nothing and exits 0.
echo "$* policy=$("$POLICY" 2>/dev/null; echo $?)" >>"$STATE/apt"
case "$1" in
update) rm -f "$STATE/no-lists" ;;
install) [ -f "$STATE/no-lists" ] || [ -f "$STATE/bad-mirror" ] || : >"$STATE/verify" ;;
esac
exit 0
"""


@pytest.fixture
def dpkg_env(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("dpkg", FAKE_DPKG), ("dpkg-query", FAKE_DPKG), ("apt-get", FAKE_APT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (state / "installed").write_text("")
    (state / "verify").write_text(
        "??5??????   /usr/bin/etcd\n??5?????? c /etc/default/etcd\n"
        "missing     /usr/share/doc/etcd-server/README.md\n"
    )
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(state),
        "POLICY": str(tmp_path / "policy-rc.d"),
    }


def run_script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    argv = ["sh", str(scripts.path(name)), *args]
    env = {**env, **scripts.environment()}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


def test_dpkg_verify_names_a_changed_etcd_and_leaves_conffiles_and_docs_alone(dpkg_env):
    lines = run_script("verify_package", dpkg_env, "etcd-server").stdout.splitlines()
    assert lines == [
        "installed:3.4.23-1+b4",
        "changed:/usr/bin/etcd",
        "missing:/usr/share/doc/etcd-server/README.md",
    ]
    assert package_problems(lines, "/usr/bin/etcd", "etcd-server") == [
        "/usr/bin/etcd is not the file package etcd-server installed (dpkg --verify)"
    ]
    assert package_problems(lines[2:], "/usr/bin/etcd", "etcd-server") == []  # a doc file
    (Path(dpkg_env["STATE"]) / "installed").unlink()
    assert run_script("verify_package", dpkg_env, "etcd-server").stdout == ""


@pytest.mark.parametrize("listed_as", ["etcd-server.md5sums", "etcd-server:amd64.md5sums"])
def test_dpkg_verify_is_remembered_while_the_packages_files_do_not_change(
    dpkg_env, tmp_path, listed_as
):
    """dpkg's list of the package's files (info/PACKAGE.md5sums, or PACKAGE:ARCH.md5sums for
    a multi-arch package, in $DPKG_ADMINDIR as dpkg reads it) keys the memo: a file of the
    package or the list changed, dpkg --verify runs again."""
    state, info, memo = Path(dpkg_env["STATE"]), tmp_path / "admin" / "info", tmp_path / "memo"
    info.mkdir(parents=True)
    binary, doc = tmp_path / "etcd", tmp_path / "README"
    binary.write_text("etcd")
    doc.write_text("doc")
    sums = info / listed_as
    sums.write_text(f"{'0' * 32}  {str(binary)[1:]}\n{'1' * 32}  {str(doc)[1:]}\n")
    env = {**dpkg_env, "DPKG_ADMINDIR": str(tmp_path / "admin")}
    env[scripts.MEMO_DIR_VARIABLE] = str(memo)
    time.sleep(2.1)  # older than 2 s: remembered

    def verify() -> tuple[list[str], int]:
        lines = run_script("verify_package", env, "etcd-server").stdout.splitlines()
        return lines, len((state / "verified").read_text().splitlines())

    lines = ["installed:3.4.23-1+b4", "changed:/usr/bin/etcd"]
    lines.append("missing:/usr/share/doc/etcd-server/README.md")
    assert [verify(), verify()] == [(lines, 1), (lines, 1)]
    doc.write_text("doc")  # the same bytes again
    assert verify() == (lines, 2)
    sums.write_text(sums.read_text())
    assert verify() == (lines, 3)
    time.sleep(2.1)
    assert [verify(), verify()] == [(lines, 4), (lines, 4)]
    info.rename(info.with_name("gone"))  # no list of the package's files: no memo
    assert [verify(), verify()] == [(lines, 5), (lines, 6)]


def test_reinstall_installs_the_same_version_with_services_held_off(dpkg_env):
    state = Path(dpkg_env["STATE"])
    (state / "no-lists").write_text("")  # the first try fails: apt-get update, then again
    policy = dpkg_env["POLICY"]
    done = run_script("reinstall_package", dpkg_env, "etcd-server", policy)
    assert done.returncode == 0, done.stderr
    calls = (state / "apt").read_text().splitlines()
    install = "install -y -q --reinstall --no-install-recommends etcd-server=3.4.23-1+b4"
    assert calls == [f"{install} policy=101", "update -q policy=101", f"{install} policy=101"]
    assert not Path(policy).exists()  # removed again: there was none before
    assert (state / "verify").read_text() == ""  # dpkg --verify finds nothing changed


def test_a_reinstall_that_leaves_a_changed_file_fails_and_puts_policy_back(dpkg_env):
    state = Path(dpkg_env["STATE"])
    (state / "bad-mirror").write_text("")
    policy = Path(dpkg_env["POLICY"])
    policy.write_text("#!/bin/sh\nexit 0\n")  # the host's own policy-rc.d
    done = run_script("reinstall_package", dpkg_env, "etcd-server", str(policy))
    assert done.returncode == 1
    assert "dpkg --verify still finds changed files" in done.stderr
    assert "/usr/bin/etcd" in done.stderr
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_a_restart_refuses_a_packaged_etcd_dpkg_says_was_changed(dpkg_env, tmp_path):
    bin_dir = Path(dpkg_env["PATH"].split(":")[0])
    (bin_dir / "systemctl").write_text('#!/bin/sh\necho "systemctl $*"\n')
    (bin_dir / "systemctl").chmod(0o755)
    args = ("etcd", "/usr/bin/etcd", "dpkg:etcd-server")
    refused = run_script("restart_etcd", dpkg_env, *args)
    assert refused.returncode == 1 and "is not the one package etcd-server installed" in (
        refused.stderr
    )
    (Path(dpkg_env["STATE"]) / "verify").write_text("??5?????? c /etc/default/etcd\n")
    done = run_script("restart_etcd", dpkg_env, *args)
    assert done.returncode == 0 and done.stdout.strip() == "systemctl restart etcd"


def test_the_survey_asks_dpkg_about_debians_etcd_only(make_settings, make_cluster):
    debian = make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    assert "verify_package" in survey_command(debian, debian.first, with_probe=False)
    own = make_settings(
        etcd_runtime="systemd", etcd_version="distro", etcd_binary="/usr/local/bin/etcd"
    )
    assert verification(own) == "" and not packaged(own)
    static_pod = make_cluster()
    assert "verify_package" not in survey_command(static_pod, static_pod.first, False)
    lines = ["@@section@@files", _END, "@@section@@package", "installed:3.4.23-1+b4"]
    changed = parse_report(debian.first.host, debian, [*lines, "changed:/usr/bin/etcd"])
    assert changed.survey.binary_problems == (
        "/usr/bin/etcd is not the file package etcd-server installed (dpkg --verify)",
    )
    assert parse_report(debian.first.host, debian, lines).survey.binary_problems == ()
