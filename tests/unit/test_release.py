"""A chosen etcd version: settings, version rules, archive checks, and the install script.

``install_release`` runs under a real ``sh`` against a small archive in etcd's release
layout whose ``etcd`` is a stand-in script reporting a version (said where it is made).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from etcd_cluster import scripts
from etcd_cluster.engine.observe import Observation
from etcd_cluster.engine.plan import target_version
from etcd_cluster.engine.templates import render
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd import release
from etcd_cluster.etcd.restarts import RENDER, static_pod_decision

SHA = "a" * 64


def systemd(make_settings, **data):
    return make_settings(etcd_runtime="systemd", **data)


def test_a_version_needs_its_checksum_and_the_systemd_runtime(make_settings):
    with pytest.raises(DeployInputError, match=r"etcd_version='3\.5\.16' has no shipped checksum"):
        systemd(make_settings, etcd_version="3.5.16")
    with pytest.raises(DeployInputError, match="set etcd_image_tag instead"):
        make_settings(etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": SHA})
    with pytest.raises(DeployInputError, match=r"must look like 3\.5\.16"):
        systemd(make_settings, etcd_version="3.5")
    with pytest.raises(DeployInputError, match="64 hex digits"):
        systemd(make_settings, etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": "abc"})
    with pytest.raises(DeployInputError, match="or other braces"):
        systemd(make_settings, etcd_archive_url="https://example.com/{name}.tar.gz")
    chosen = systemd(make_settings, etcd_version="v3.5.16", etcd_archive_sha256={"3.5.16": SHA})
    assert chosen.etcd_version == "3.5.16" and chosen.archive_sha256("3.5.16", "arm64") == SHA
    assert release.etcd_binary(chosen) == "/opt/etcd/v3.5.16/etcd"
    assert release.etcd_binary(systemd(make_settings, etcd_version="distro")) == "/usr/bin/etcd"


def test_the_default_archive_is_etcds_release_url(make_settings):
    chosen = systemd(make_settings, etcd_version="3.5.24", etcd_archive_sha256={"3.5.24": SHA})
    assert release.archive_source(chosen, "arm64") == (
        "https://github.com/etcd-io/etcd/releases/download/v3.5.24/etcd-v3.5.24-linux-arm64.tar.gz"
    )
    assert release.release_arch("x86_64") == "amd64" and release.release_arch("mips") == ""


@pytest.mark.parametrize(
    ("running", "target", "refused"),
    [
        ({"a": "3.4.23", "b": "3.4.23"}, "3.5.16", ""),
        ({"a": "3.5.16", "b": "3.4.23"}, "3.5.16", ""),  # an upgrade a failed run left half done
        ({"a": "3.5.16"}, "3.5.30", ""),
        ({"a": "3.4.23"}, "3.6.0", "skips a minor version; upgrade to 3.5 first"),
        ({"a": "3.4.23"}, "3.6.14", "etcd_version to a 3.5 release (e.g. '3.5.33')"),
        ({"a": "3.4.23"}, "3.6.14", "or set etcd_version='distro'"),
        ({"a": "3.4.23"}, "3.5.33", ""),  # the default from Debian's etcd: one minor
        ({"a": "3.5.24"}, "3.6.14", "3.6 only from 3.5.26 or newer"),
        ({"a": "3.5.26"}, "3.6.14", ""),
        ({"a": "3.5.30"}, "3.5.16", "a downgrade is not automated"),
        ({"a": "3.6.0"}, "3.5.30", "a downgrade is not automated"),
        ({"a": ""}, "3.5.16", ""),
    ],
)
def test_version_moves(running, target, refused):
    refusals = release.version_change_refusals(running, target)
    assert (refusals == []) == (refused == "")
    assert all(refused in text for text in refusals)


def test_only_older_members_are_upgraded():
    assert release.upgrading({"a": "3.5.16", "b": "3.4.23", "c": ""}, "3.5.16") == ["b"]


def test_a_local_archive_is_verified_before_any_host_changes(make_settings, tmp_path):
    archive = tmp_path / "etcd-v3.5.16-linux-amd64.tar.gz"
    archive.write_bytes(b"archive")
    good = hashlib.sha256(b"archive").hexdigest()
    url = f"{tmp_path}/etcd-v{{version}}-linux-{{arch}}.tar.gz"

    def chosen(sha: str):
        return systemd(
            make_settings,
            etcd_version="3.5.16",
            etcd_archive_url=url,
            etcd_archive_sha256={"3.5.16": sha},
        )

    check = release.archive_refusals
    assert check(chosen(good), "h", "x86_64", release.local_sha256) == []
    (bad,) = check(chosen(SHA), "h", "x86_64", release.local_sha256)
    assert f"{archive} has sha256 {good}" in bad and "refusing to install it" in bad
    assert "host h" in bad and f"but {SHA} is etcd_archive_sha256's" in bad
    assert "put its sha256 in etcd_archive_sha256" in bad  # each names the way out
    (missing,) = check(chosen(good), "h", "aarch64", release.local_sha256)
    assert "cannot read" in missing and "arm64" in missing and "fix etcd_archive_url" in missing
    (arch,) = check(chosen(good), "h9", "mips", release.local_sha256)
    assert "host h9" in arch and "'mips'" in arch and "etcd_version='distro'" in arch


# --- install_release under a real shell ---------------------------------------------------------

STAND_IN_ETCD = (
    "#!/bin/sh\n# stand-in for etcd: reports a version\necho 'etcd Version: {version}'\n"
)


def make_archive(path: Path, version: str, reported: str | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name in ("etcd", "etcdctl", "etcdutl"):
            body = STAND_IN_ETCD.format(version=reported or version).encode()
            info = tarfile.TarInfo(f"etcd-v{version}-linux-amd64/{name}")
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install(archive: Path, sha: str, version: str, root: Path) -> subprocess.CompletedProcess:
    argv = ["sh", str(scripts.path("install_release")), str(archive), sha, version, "amd64"]
    return subprocess.run([*argv, str(root)], capture_output=True, text=True, check=False)


def test_install_unpacks_a_verified_archive_side_by_side(tmp_path):
    root = tmp_path / "opt-etcd"
    for version in ("3.5.16", "3.5.30"):
        archive = tmp_path / f"{version}.tar.gz"
        done = install(archive, make_archive(archive, version), version, root)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir()) == ["v3.5.16", "v3.5.30"]
    assert os.access(root / "v3.5.30/etcd", os.X_OK)


@pytest.mark.parametrize(
    ("case", "message"),
    [("checksum", "does not match etcd_archive_sha256"), ("version", "does not say it is")],
)
def test_install_refuses_a_bad_archive_and_leaves_nothing(tmp_path, case, message):
    archive, root = tmp_path / "a.tar.gz", tmp_path / "opt-etcd"
    sha = make_archive(archive, "3.5.16", reported="3.5.15" if case == "version" else None)
    done = install(archive, SHA if case == "checksum" else sha, "3.5.16", root)
    assert done.returncode == 1 and message in done.stderr
    assert not (root / "v3.5.16").exists()
    assert not root.exists() or list(root.iterdir()) == []


def test_a_static_pod_upgrade_renders_the_new_image_and_rewrites_the_manifest(
    make_settings, make_cluster
):
    settings = make_settings(etcd_image_repository="registry.k8s.io", etcd_image_tag="3.6.9-0")
    cluster = make_cluster(settings_=settings)
    member = cluster.first
    config = render(kc.KUBEADM_CONFIG_TEMPLATE, **kc.kubeadm_config_context(cluster, member))
    assert 'imageTag: "3.6.9-0"' in config
    assert target_version(cluster) == "3.6.9"
    running = Observation(
        args=("etcd", "--name=infra0"),
        manifest_args=("etcd", "--name=infra0"),
        manifest_image="registry.k8s.io/etcd:3.5.30-0",
    )
    assert running.version() == "3.5.30"
    assert release.version_change_refusals({"h": running.version()}, "3.6.9") == []
    assert release.upgrading({"h": running.version()}, "3.6.9") == ["h"]
    decision = static_pod_decision(running, [("name", "infra0")], kc.wanted_image(cluster), True)
    assert decision.action == RENDER  # the container runs the old manifest: a new one replaces it
    assert (
        "runs registry.k8s.io/etcd:3.5.30-0, wanted registry.k8s.io/etcd:3.6.9-0"
        in (decision.reasons[0])
    )


def test_the_distributions_etcd_older_than_what_runs_is_refused(make_settings, make_cluster):
    """etcd_version=distro after a release was installed: the unit would run /usr/bin/etcd,
    and etcd refuses to start below the cluster's version (seen on the bed: a member
    down), so the run refuses before any host changes, naming the binary and the way out."""
    from etcd_cluster.engine.plan import _refuse_binary_downgrades
    from etcd_cluster.engine.preflight import Survey

    cluster = make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    older, same = Survey(etcd_version="3.4.23"), Survey(etcd_version="3.5.16")
    with pytest.raises(DeployInputError) as refused:
        _refuse_binary_downgrades(
            cluster, {"h0": "3.5.16", "h1": "3.5.16"}, {"h0": older, "h1": same}
        )
    text = str(refused.value)
    assert "host h0 runs etcd 3.5.16, newer than 3.4.23" in text and "h1" not in text
    assert "/usr/bin/etcd says it is etcd 3.4.23" in text and "set etcd_version" in text
    # the same version, a newer package (upgraded by apt: one minor), nothing running: no refusal
    _refuse_binary_downgrades(cluster, {"h0": "3.4.23"}, {"h0": older})
    _refuse_binary_downgrades(cluster, {"h0": "3.4.23"}, {"h0": same})
    _refuse_binary_downgrades(cluster, {}, {"h0": older})
