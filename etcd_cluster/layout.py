"""Where the repository's top-level files are: beside the package in a checkout, inside it
once installed.

The repository keeps ``templates/``, ``tasks/`` and ``group_data/`` at its top level (the
shape it promises); pyproject.toml maps them into the wheel as ``etcd_cluster/share/`` and
``etcd_cluster/tasks/``. Nothing here depends on the current directory.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED = (PACKAGE_DIR / "share").is_dir()
# The directory holding templates/ and group_data/all.py.
ROOT = PACKAGE_DIR / "share" if INSTALLED else PACKAGE_DIR.parent


def step(name: str) -> ModuleType:
    """The module of one guide step: ``etcd_cluster.tasks.<name>``, or ``tasks.<name>`` in
    a checkout (found beside the package whatever the current directory)."""
    if INSTALLED:
        return import_module(f"etcd_cluster.tasks.{name}")
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return import_module(f"tasks.{name}")
