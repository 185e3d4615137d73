"""The package as a platform team adopts it, and ``--limit``, on three real members.

- a fresh venv, ``pip install`` of a copy of the checkout (a wheel, not editable), and a
  deploy file in an empty directory that imports and calls ``deploy_etcd_cluster()``:
  a healthy cluster; a rerun changes nothing and costs one remote command per member;
- ``--limit`` one member with a flag change: only that member changes and restarts (the
  others' etcd keeps its start time), then a full run converges the rest;
- ``--limit`` the first member alone renews its own expiring certificate.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from bench.counting import count_over_docker
from sandbox import bed
from tests.e2e.conftest import (
    PKI,
    REPO,
    Bed,
    ClusterPoller,
    Run,
    assert_healthy_cluster,
    assert_restarted_one_at_a_time,
    deploy_ok,
    etcd_times,
    file_certificate,
    make_bed,
    out,
    pki_digests,
    pyinfra,
    running_args,
    served_certificate,
)

pytestmark = pytest.mark.e2e

NEW_FLAG = "--heartbeat-interval=150"
FLAG = {"etcd_extra_args": {"heartbeat-interval": "150"}}
# Certificates made by the first run expire in 365 days: inside a 366-day window.
RENEW = {"etcd_renew_before_days": 366, "etcd_cert_validity_hours": 9000}
UNIT = "/etc/systemd/system/etcd.service"

TEAM_DEPLOY = '''"""A team's own deploy: the etcd cluster from the installed package."""

from etcd_cluster import deploy_etcd_cluster

deploy_etcd_cluster()
'''
# What a wheel must not carry, and what a fresh copy of the checkout leaves out.
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.pyc", ".*_cache", ".sandbox.json", "bench-results"
)


@pytest.fixture(scope="module")
def bed3(tmp_path_factory) -> Iterator[Bed]:
    yield from make_bed(tmp_path_factory, "etcd-e2e-package", 3, subnet_index=38)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the checkout pip-installed (from a copy: no build litter here)."""
    root = tmp_path_factory.mktemp("package")
    source = root / "checkout"
    shutil.copytree(REPO, source, ignore=NOT_COPIED)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    pip = [str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(source)], check=True, capture_output=True, timeout=600)
    return root / "venv"


def team_run(venv: Path, workdir: Path, *args: str, env: dict | None = None) -> Run:
    """The installed pyinfra runs the team's deploy file from ``workdir`` (no checkout)."""
    command = [str(venv / "bin" / "pyinfra"), "-y", "inventory.py", "team_deploy.py", *args]
    proc = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=900, check=False, env=env
    )
    return Run(command, proc.returncode, proc.stdout, proc.stderr)


def test_an_installed_package_builds_the_cluster_from_an_empty_directory(
    bed3: Bed, venv: Path, tmp_path: Path
):
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    package = site / "site-packages" / "etcd_cluster"
    assert (package / "tasks" / "start_etcd.py").is_file()
    assert (package / "share" / "templates" / "etc" / "systemd" / "system").is_dir()
    assert (package / "scripts" / "sections.sh").is_file()
    workdir = tmp_path / "team"
    workdir.mkdir()
    (workdir / "team_deploy.py").write_text(TEAM_DEPLOY)
    bed.write_inventory(workdir / "inventory.py", bed3.nodes, host_data=bed3.host_data)
    run = team_run(venv, workdir)
    assert run.returncode == 0, run.output[-6000:]
    assert_healthy_cluster(bed3, run)
    # A no-op: nothing changes, one remote command per member (counted as the benchmark does).
    runs: list[Run] = []
    counts = count_over_docker(
        bed3.nodes, tmp_path, lambda env: runs.append(team_run(venv, workdir, "--json", env=env))
    )
    (rerun,) = runs
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert rerun.json()["results"]["totals"]["success"] == 0
    assert counts.commands == {node.container: 1 for node in bed3.nodes}


def test_a_flag_change_limited_to_one_member_changes_that_member_only(bed3: Bed, tmp_path: Path):
    nodes = bed3.nodes
    flag = bed3.write_inventory("flag.py", host_data=FLAG)
    units = {n.container: out(n, f"sha256sum {UNIT}") for n in nodes}
    times = {n.container: etcd_times(n) for n in nodes}
    runs: list[Run] = []
    limited_run = partial(pyinfra, flag, "--limit", nodes[1].pyinfra_host)
    with ClusterPoller(nodes[0], bed3.endpoints()) as poller:
        counts = count_over_docker(nodes, tmp_path, lambda env: runs.append(limited_run(env=env)))
        time.sleep(1)
    (run,) = runs
    assert run.returncode == 0, run.output[-6000:]
    assert poller.ok >= 3, "the poller barely ran"
    assert poller.failures == [], poller.failures
    # pyinfra never ran a command on the members left out: they were read through etcd's API
    assert set(counts.commands) == {nodes[1].container}, counts.commands
    assert set(counts.transfers) <= {nodes[1].container}, counts.transfers
    assert NEW_FLAG in running_args(nodes[1]), run.output[-4000:]
    assert etcd_times(nodes[1]) != times[nodes[1].container]
    for node in (nodes[0], nodes[2]):  # not read over ssh, not written, not restarted
        assert NEW_FLAG not in running_args(node), node.container
        assert out(node, f"sha256sum {UNIT}") == units[node.container]
        assert etcd_times(node) == times[node.container], run.output[-4000:]
    assert_healthy_cluster(bed3, run)  # the table of the member inside the limit

    # A full run converges the rest, one at a time, and leaves infra1 running as it is.
    limited = etcd_times(nodes[1])
    rest = {n.container: etcd_times(n) for n in (nodes[0], nodes[2])}
    with ClusterPoller(nodes[0], bed3.endpoints()) as poller:
        run = deploy_ok(flag)
        time.sleep(1)
    assert poller.failures == [], poller.failures
    assert all(NEW_FLAG in running_args(n) for n in nodes), run.output[-4000:]
    assert etcd_times(nodes[1]) == limited
    after = {c: etcd_times(n) for n in nodes if (c := n.container) in rest}
    assert_restarted_one_at_a_time(rest, after, run.output)
    assert deploy_ok(flag, "--json").json()["results"]["totals"]["success"] == 0


def test_a_signature_with_the_first_member_left_out_refuses_naming_it(bed3: Bed):
    nodes = bed3.nodes
    renew = bed3.write_inventory("renew.py", host_data={**FLAG, **RENEW})
    before = pki_digests(nodes)
    run = pyinfra(renew, "--limit", nodes[1].pyinfra_host)
    assert run.returncode != 0
    first = nodes[0].pyinfra_host
    assert f"add {first} to --limit or run without --limit" in run.output, run.output[-3000:]
    assert pki_digests(nodes) == before


def test_limited_to_the_first_member_it_renews_its_own_certificates(bed3: Bed):
    nodes = bed3.nodes
    renew = bed3.write_inventory("renew.py", host_data={**FLAG, **RENEW})
    before = pki_digests(nodes)
    times = {n.container: etcd_times(n) for n in nodes}
    # the poller's client pair is on infra2: infra0's own apiserver-etcd-client pair renews
    with ClusterPoller(nodes[2], bed3.endpoints()) as poller:
        run = deploy_ok(renew, "--limit", nodes[0].pyinfra_host)
        time.sleep(1)
    assert poller.failures == [], poller.failures
    after = pki_digests(nodes)
    changed = {key for key in after if after[key] != before[key]}
    first = nodes[0].container
    assert {container for container, _ in changed} == {first}, run.output[-4000:]
    for port, stem in ((2379, "server"), (2380, "peer")):
        assert (first, f"{PKI}/etcd/{stem}.crt") in changed
        assert (first, f"{PKI}/etcd/{stem}.key") in changed
        served = served_certificate(nodes[0], port)
        assert served == file_certificate(nodes[0], f"{PKI}/etcd/{stem}.crt")
    assert {n.container: etcd_times(n) for n in nodes} == times  # renewal restarts nothing
