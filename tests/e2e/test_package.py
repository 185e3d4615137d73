"""The package as a platform team adopts it, on three real members.

- a fresh venv, ``pip install`` of a copy of the checkout (a wheel, not editable), and a
  deploy file in an empty directory that imports and calls ``deploy_etcd_cluster()``:
  a healthy cluster; a rerun changes nothing and costs one remote command per member.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.counting import count_over_docker
from sandbox import bed
from tests.e2e.conftest import (
    REPO,
    Bed,
    Run,
    assert_healthy_cluster,
    make_bed,
)

pytestmark = pytest.mark.e2e

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
