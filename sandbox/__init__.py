"""Local hosts for the etcd deploy: systemd containers driven by pyinfra.

* :mod:`sandbox.image` starts ``dockerd`` and builds the host image.
* :mod:`sandbox.bed` makes and removes beds of containers (used by the tests).
* ``python -m sandbox`` (behind ``./demo.sh``) keeps one bed, the *sandbox*,
  and records it in :data:`STATE_FILE` so that ``sandbox/inventory.py`` can deploy
  to it through :func:`inventory_hosts`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from sandbox.bed import Node, inventory

SANDBOX_PREFIX = "etcd-sandbox"
"""Network name and container name prefix of the demo sandbox."""

SANDBOX_SUBNET_INDEX = 100
"""The sandbox's subnets are 10.231.100.0/24 and fd00:e7cd:0:100::/64, out of
the way of test beds, which use small indices."""

STATE_FILE = Path(__file__).resolve().parent.parent / ".sandbox.json"
"""Members of the running sandbox, written by ``up`` and removed by ``down``."""


def save_state(nodes: list[Node]) -> None:
    """Record the sandbox's members in :data:`STATE_FILE`."""
    state = {"prefix": SANDBOX_PREFIX, "members": [asdict(node) for node in nodes]}
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def load_state() -> list[Node]:
    """The sandbox's members as recorded by ``up``."""
    if not STATE_FILE.exists():
        raise RuntimeError(f"no sandbox is up ({STATE_FILE} is missing): run ./demo.sh up first")
    init_fields = [f.name for f in fields(Node) if f.init]
    members = json.loads(STATE_FILE.read_text())["members"]
    return [Node(**{name: member[name] for name in init_fields}) for member in members]


def inventory_hosts() -> list[tuple[str, dict[str, object]]]:
    """The ``etcd`` inventory group for the sandbox, for ``sandbox/inventory.py``."""
    return inventory(load_state(), {"etcd_runtime": "systemd"})
