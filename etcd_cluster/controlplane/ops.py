"""Operations of the HA control-plane guide that pyinfra does not have.

``checked_file`` installs a service's configuration only once the service accepts it.

``files.template`` would put a broken haproxy or keepalived configuration in place
before anything checks it; this stages the file next to its destination, runs the
service's own checker on it and only then moves it in (``load_balancer.install_checked``).
"""

from __future__ import annotations

import hashlib
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State
from pyinfra.facts.files import File, Sha1File
from pyinfra.operations import files

from etcd_cluster.controlplane.plan import get_control_plane_plan
from etcd_cluster.engine.remote import run_quietly, write_files
from etcd_cluster.loadbalancer.config import install_checked


def _install_checked(state: State, host: Host, check: str, staged: str, dest: str) -> bool:
    ok, _, stderr = run_quietly(host, install_checked(check, staged, dest))
    if not ok:
        lines = stderr.strip().splitlines()[-10:]
        host.log_styled(
            f"{dest}: `{check.split()[0]}` refused the new configuration, the current one "
            "stays:\n    " + "\n    ".join(lines),
            fg="red",
            log_func=logger.error,
        )
    return ok


@operation(is_idempotent=True)
def checked_file(path: str, content: str, check: str, mode: str = "644"):
    """Install ``content`` at ``path`` (root-owned) only if ``check`` accepts it.

    + path: destination on the host
    + content: the file's text (not secret: it may be shown by ``--diff``)
    + check: shell command validating a file; ``{path}`` is replaced by the staged file
    + mode: the file's mode
    """
    info = host.get_fact(File, path=path)
    same = (
        info
        and str(info.get("mode")) == mode
        and (info.get("user"), info.get("group")) == ("root", "root")
        and host.get_fact(Sha1File, path=path) == hashlib.sha1(content.encode()).hexdigest()
    )
    if same:
        host.noop(f"{path} is up to date")
        return
    staged = f"{path}.deploy-staged"
    yield from files.put._inner(
        src=StringIO(content), dest=staged, mode=mode, user="root", group="root"
    )
    yield FunctionCommand(_install_checked, (check, staged, path), {})


def _write_shared(state: State, host: Host) -> bool:
    plan = get_control_plane_plan(state)
    wanted = {path: plan.wanted[path] for path in plan.pending.get(host.name, [])}
    ok, error = write_files(host, wanted)
    if not ok:
        host.log_styled(error, fg="red", log_func=logger.error)
        return False
    for path in sorted(wanted):
        host.log_styled(f"wrote {path}", log_func=logger.info)
    return True


@operation(is_idempotent=True)
def shared_ca_files():
    """Put the shared Kubernetes CAs on this control-plane host through the quiet channel.

    Contents never reach output, facts, operation arguments or the controller's disk.
    """
    if not get_control_plane_plan(host.state).pending.get(host.name):
        host.noop("shared CAs are in place")
        return
    yield FunctionCommand(_write_shared, (), {})
