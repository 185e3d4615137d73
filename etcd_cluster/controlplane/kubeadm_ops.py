"""kubeadm init, CNI and kubeadm join as pyinfra operations, guarded so reruns do nothing.

A host counts as done when its ``kubelet.conf`` is present and its node is registered
(read by the preflight survey before any change). The configs carry the bootstrap
token, so they reach hosts through the quiet channel (mode 0600) and are removed once
kubeadm has read them; failures show kubeadm's last lines with the token masked.
Joins need a live token: the first run's token is in the InitConfiguration; a later
run that joins a host creates the deploy's token again (``kubeadm token create``), so
an expired one never matters.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FactBase, FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.controlplane import kubeadm as kcp
from etcd_cluster.controlplane.pki import ca_cert_hash
from etcd_cluster.controlplane.plan import ControlPlanePlan, get_control_plane_plan
from etcd_cluster.engine.polling import on, poll, progress_while
from etcd_cluster.engine.remote import Wanted, run_quietly, write_files
from etcd_cluster.errors import fail

ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
KUBECTL = f"kubectl --kubeconfig {ADMIN_KUBECONFIG}"
JOIN_TOKEN_TTL = "1h0m0s"
READY_TIMEOUT = 300  # seconds for the first apiserver to answer before the CNI is applied


def _run_kubeadm(target: Host, plan: ControlPlanePlan, path: str, config: str, verb: str) -> bool:
    ok, error = write_files(target, {path: Wanted(config.encode(), "600")})
    if not ok:
        return fail(target, error)
    with progress_while(f"kubeadm {verb} to finish", say=on(target)):
        ok, stdout, stderr = run_quietly(target, f"kubeadm {verb} --config {path}")
    run_quietly(target, f"rm -f {path}")  # it holds the token
    if not ok:
        lines = (stderr or stdout).replace(plan.token, "<token>").splitlines()[-20:]
        return fail(target, f"kubeadm {verb} failed:\n    " + "\n    ".join(lines))
    target.log_styled(f"kubeadm {verb} done", log_func=logger.info)
    return True


def _init(state: State, host: Host) -> bool:
    plan = get_control_plane_plan(state)
    context = kcp.init_context(
        plan.settings,
        token=plan.token,
        advertise_address=plan.addresses[host.name],
        apiserver_port=plan.apiserver_port,
        vip=plan.lb.vip if plan.lb else None,
        external_etcd=plan.external_etcd,
    )
    ok = _run_kubeadm(host, plan, kcp.INIT_CONFIG_PATH, kcp.render_init(**context), "init")
    plan.token_ready = plan.token_ready or ok
    return ok


@operation(is_idempotent=True)
def kubeadm_init():
    """``kubeadm init`` on the first control-plane host, unless it has already run there."""
    plan = get_control_plane_plan(host.state)
    if host.name != plan.first or not plan.needs_init():
        host.noop("not the first control-plane host, or already initialised")
        return
    yield FunctionCommand(_init, (), {})


def _join(state: State, host: Host) -> bool:
    plan = get_control_plane_plan(state)
    if not plan.token_ready:
        first = state.inventory.get_host(plan.first)
        ok, _, stderr = run_quietly(
            first, f"kubeadm token create {plan.token} --ttl {JOIN_TOKEN_TTL}", secret=True
        )
        if not ok:
            return fail(host, f"could not create a bootstrap token on {plan.first}: {stderr}")
        plan.token_ready = True
    context = kcp.join_context(
        plan.settings,
        token=plan.token,
        ca_cert_hash=ca_cert_hash(plan.ca_cert),
        control_plane=host.name in plan.hosts,
        advertise_address=plan.addresses[host.name],
        apiserver_port=plan.apiserver_port,
    )
    return _run_kubeadm(host, plan, kcp.JOIN_CONFIG_PATH, kcp.render_join(**context), "join")


@operation(is_idempotent=True)
def kubeadm_join():
    """``kubeadm join`` (with ``controlPlane`` on control-plane hosts); call with ``_serial``."""
    if not get_control_plane_plan(host.state).needs_join(host.name):
        host.noop("joined and registered, or the first control-plane host")
        return
    yield FunctionCommand(_join, (), {})


class CniInSync(FactBase[bool]):
    """Whether the cluster already holds the CNI manifest as it is (``kubectl diff``)."""

    default = bool

    def command(self, manifest: str) -> str:  # type: ignore[override]
        return f"{KUBECTL} diff -f {manifest} >/dev/null 2>&1; echo $?"

    def process(self, output: list[str]) -> bool:  # type: ignore[override]
        return output[-1:] == ["0"]


def _apply(state: State, host: Host, manifest: str) -> bool:
    ready = poll(
        lambda: run_quietly(host, f"{KUBECTL} get --raw=/readyz")[0],
        bool,
        READY_TIMEOUT,
        2,
        "the apiserver to answer /readyz",
        say=on(host),
    )
    if not ready:
        return fail(host, f"the apiserver did not answer within {READY_TIMEOUT}s")
    ok, _, stderr = run_quietly(host, f"{KUBECTL} apply -f {manifest}")
    return ok or fail(host, f"kubectl apply -f {manifest} failed: {stderr.strip()}")


@operation(is_idempotent=True)
def cni_applied(manifest: str):
    """``kubectl apply`` of the CNI manifest on the first control-plane host, when it differs.

    + manifest: a path on the host or a URL
    """
    plan = get_control_plane_plan(host.state)
    if host.name != plan.first or not manifest:
        host.noop("no CNI manifest to apply here")
        return
    if host.get_fact(CniInSync, manifest=manifest):
        host.noop("the CNI manifest is applied")
        return
    yield FunctionCommand(_apply, (manifest,), {})
