"""The run's last act: ca.key leaves every host but the first member (``certs/ca_key.py``).

Called on every member and retired host, after every other step of the run, and only
when the plan found a copy of ca.key outside the first member. At execution it reads
the first member's CA files again (the public half of ca.key only) and removes the
other copies only when that copy matches ca.crt, the first member did not fail and the
cluster was healthy in this run; otherwise every copy stays and the run fails, so the
next run finishes the move.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster import scripts
from etcd_cluster.certs import ca_key
from etcd_cluster.certs.certlist import ETCD_CA
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.engine.remote import RemoteFile, read_files, run_quietly
from etcd_cluster.errors import RemoteReadError, fail


def _first_files(target: Host) -> dict[str, RemoteFile] | None:
    pki = get_plan(target.state).cluster.settings.pki_dir
    paths = [ETCD_CA.cert_path(pki), ETCD_CA.key_path(pki)]
    try:
        return read_files(target, paths, private_keys=paths[1:])
    except RemoteReadError:
        return None


def _release(state: State, host: Host) -> bool:  # pyinfra passes these two by name
    plan = get_plan(state)
    pki = plan.cluster.settings.pki_dir
    first = state.inventory.get_host(plan.cluster.first.host)
    wanted = plan.members[first.name].wanted
    blocker = ca_key.release_blocker(
        first.name,
        first in state.failed_hosts,
        plan.cluster_healthy,
        None if first in state.failed_hosts else _first_files(first),
        wanted[ETCD_CA.cert_path(pki)].content or b"",
        wanted[ETCD_CA.key_path(pki)].public_key_sha256,
        pki,
    )
    key_path = ETCD_CA.key_path(pki)
    if blocker:
        return fail(host, f"{key_path} stays on {host.name}: {blocker}; the next run finishes it")
    ok, _, stderr = run_quietly(host, scripts.command("apply_state", "absent", key_path))
    if not ok:
        return fail(host, f"removing {key_path} failed: {stderr.strip()}")
    host.log_styled(
        f"removed {key_path}: {first.name} holds the verified copy", log_func=logger.info
    )
    return True


@operation(is_idempotent=True)
def release_ca_key():
    """Remove this host's ca.key once the first member's copy is verified (see the module)."""
    if host.name not in get_plan(host.state).ca_key_strays:
        host.noop("no other copy of ca.key here")
        return
    yield FunctionCommand(_release, (), {})
