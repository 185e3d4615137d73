"""The wheel carries what the deploys need where ``etcd_cluster/layout.py`` looks for it,
and the deploys are importable as a team's deploy file imports them."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import etcd_cluster
from etcd_cluster import layout
from etcd_cluster.defaults import DEFAULTS

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_maps_tasks_templates_and_defaults_where_layout_looks():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["etcd_cluster"]
    assert wheel["force-include"] == {
        "tasks": "etcd_cluster/tasks",
        "templates": "etcd_cluster/share/templates",
        "group_data/all.py": "etcd_cluster/share/group_data/all.py",
    }
    assert project["build-system"]["build-backend"] == "hatchling.build"
    requirements = (REPO / "requirements.txt").read_text().split()
    assert all(dep in requirements for dep in project["project"]["dependencies"])


def test_in_a_checkout_the_files_are_found_beside_the_package():
    assert not layout.INSTALLED and layout.ROOT == REPO
    assert (layout.ROOT / "templates" / "etc" / "kubernetes" / "kubeadmcfg.yaml.j2").is_file()
    assert layout.step("start_etcd").__name__ == "tasks.start_etcd"


def test_every_step_module_has_a_run():
    for path in sorted((REPO / "tasks").glob("*.py")):
        if path.stem != "__init__":
            assert callable(layout.step(path.stem).run), path.name


def test_the_deploys_are_pyinfra_deploys_with_the_defaults(group_defaults):
    for name in etcd_cluster.__all__:
        function = inspect.unwrap(getattr(etcd_cluster, name))
        assert function.deploy_data is DEFAULTS, name  # set by @deploy(data_defaults=...)
    assert group_defaults == DEFAULTS
