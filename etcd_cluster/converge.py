"""Put a member's managed items (``managed.py``) in place, asking pyinfra only where needed.

pyinfra's file and service operations each ask the host for facts when they run (a
``stat``, a checksum, ``systemctl show``), and each call costs pyinfra a walk of the
Python stack while it prepares. On a converged member that was some fifteen round trips
and two dozen operations for nothing. Here the run's survey decides first: an item it
found in place is left alone (no operation at all); an item out of place, or any item
on a host where an earlier step may change things under the survey (a package or an
etcd release to install), gets pyinfra's own operation, which checks again and shows
its diff with ``--dry --diff``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyinfra import host
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd

from etcd_cluster.managed import Absent, Directory, Item, Service
from etcd_cluster.plan import get_plan


class Unchanged:
    """Stands for an operation that was not needed: it changed nothing."""

    @staticmethod
    def did_change() -> bool:
        return False


UNCHANGED = Unchanged()
Result = OperationMeta | Unchanged


def needed(target: Host, item: Item) -> bool:
    """Whether ``item`` needs pyinfra's operation on ``target``."""
    plan = get_plan(target.state)
    state = plan.host_states.get(target.name)
    return state is None or not plan.survey_holds(target.name) or not item.in_place(state)


def ensure(name: str, item: Item | None, **arguments) -> Result:
    """``item`` in place on this host: pyinfra's operation when ``needed``.

    ``arguments``: pyinfra's global operation arguments, e.g. ``_if``.
    """
    if item is None or not needed(host, item):
        return UNCHANGED
    operation, keywords = _operation(item)
    return operation(name=name, **keywords, **arguments)


def _operation(item: Item) -> tuple[Callable[..., OperationMeta], dict[str, Any]]:
    """pyinfra's operation for ``item``, and its arguments."""
    if isinstance(item, Service):
        return systemd.service, {
            "service": item.unit,
            "running": item.running,
            "enabled": item.enabled,
        }
    if isinstance(item, Absent):
        return files.file, {"path": item.path, "present": False}
    owner = {"mode": item.mode, "user": item.user, "group": item.group}
    if isinstance(item, Directory):
        return files.directory, {"path": item.path, **owner}
    return files.template, {"src": item.template, "dest": item.dest, **owner, **item.context()}


def called(*results: Result) -> bool:
    """Whether any of ``results`` is a real operation (which may change something)."""
    return any(not isinstance(result, Unchanged) for result in results)
