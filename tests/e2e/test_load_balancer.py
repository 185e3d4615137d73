"""The HA guide's load balancer, end to end: Debian's haproxy and keepalived on two hosts.

Bed ``etcd-e2e-lb`` (10.231.40.0/24): hosts 0 and 1 form the ``lb`` group and hold the
VIP 10.231.40.200; hosts 2 and 3 are the apiservers. kube-apiserver cannot be installed
here, so the backends are stand-ins: ``standins/fake_apiserver.py``, a small HTTPS
server with a ``/healthz`` that the test can make fail, started by the test on hosts 2
and 3 with a throwaway self-signed certificate. haproxy and keepalived are real.
All traffic goes to bed addresses only.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox import bed
from tests.e2e.conftest import deploy_ok, out, pyinfra, sh

pytestmark = pytest.mark.e2e

PREFIX = "etcd-e2e-lb"
SUBNET = 40
VIP = f"10.231.{SUBNET}.200"
PORT = 6443
STANDIN = Path(__file__).parent / "standins" / "fake_apiserver.py"
UNHEALTHY_MARK = "/run/fake-apiserver-unhealthy"


def throwaway_cert() -> tuple[bytes, bytes]:
    """A self-signed test certificate for the stand-ins (haproxy checks with verify none)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def start_standin(node: bed.Node, cert: bytes, key: bytes) -> None:
    assert sh(node, "cat > /usr/local/bin/fake_apiserver.py", STANDIN.read_bytes()).returncode == 0
    assert sh(node, "umask 077; cat > /run/fake-apiserver.crt", cert).returncode == 0
    assert sh(node, "umask 077; cat > /run/fake-apiserver.key", key).returncode == 0
    out(
        node,
        "systemd-run --unit=fake-apiserver python3 /usr/local/bin/fake_apiserver.py "
        f"{PORT} /run/fake-apiserver.crt /run/fake-apiserver.key",
    )
    deadline = time.monotonic() + 15
    while sh(node, f"curl -skf https://127.0.0.1:{PORT}/healthz").returncode != 0:
        assert time.monotonic() < deadline, f"stand-in on {node.container} did not start"
        time.sleep(0.3)


def write_inventory(path: Path, lb_nodes: list[bed.Node], **group_data: object) -> Path:
    hosts = [(n.pyinfra_host, {"k8s_address": n.ipv4}) for n in lb_nodes]
    path.write_text(f"lb = ({hosts!r}, {group_data!r})\n")
    return path


def through_vip(client: bed.Node, count: int) -> list[str]:
    """``count`` requests through the VIP, one connection each: who answered ("" = failed)."""
    script = (
        f"for i in $(seq {count}); do "
        f"curl -sk --max-time 2 https://{VIP}:{PORT}/whoami || printf fail; echo; done"
    )
    result = sh(client, script)
    return [line if line != "fail" else "" for line in result.stdout.decode().splitlines()]


def vip_holders(lb_nodes: list[bed.Node]) -> list[str]:
    return [n.container for n in lb_nodes if f" {VIP}/" in out(n, "ip -o -4 addr show")]


def wait_until(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.3)
    return time.monotonic() - start


def changes(run) -> int:
    return run.json()["results"]["totals"]["success"]


@pytest.fixture(scope="module")
def lb_bed(tmp_path_factory) -> Iterator[tuple[list[bed.Node], list[bed.Node], Path]]:
    nodes = bed.up(PREFIX, 4, subnet_index=SUBNET)
    try:
        cert, key = throwaway_cert()
        for node in nodes[2:]:
            start_standin(node, cert, key)
        workdir = tmp_path_factory.mktemp(PREFIX)
        inventory = write_inventory(
            workdir / "inventory.py",
            nodes[:2],
            k8s_lb_vip=VIP,
            k8s_apiserver_backends=[f"{n.ipv4}:{PORT}" for n in nodes[2:]],
        )
        yield nodes[:2], nodes[2:], inventory
    finally:
        bed.down(PREFIX)


def lb_untouched(node: bed.Node) -> bool:
    return (
        sh(
            node,
            "test ! -e /etc/keepalived/keepalived.conf && ! grep -q apiserver "
            "/etc/haproxy/haproxy.cfg",
        ).returncode
        == 0
    )


REFUSALS: dict[str, tuple[dict[str, object], str]] = {
    "no VIP": ({"k8s_apiserver_backends": ["10.231.40.12:6443"]}, "k8s_lb_vip=''"),
    "VIP not an IP": ({"k8s_lb_vip": "10.231.40.300"}, "k8s_lb_vip='10.231.40.300'"),
    "lb port equal to apiserver port on an apiserver host": (
        {"k8s_lb_vip": VIP, "k8s_apiserver_backends": ["10.231.40.10:6443"]},
        "must differ from k8s_apiserver_port=6443",
    ),
    "bad backend": (
        {"k8s_lb_vip": VIP, "k8s_apiserver_backends": ["10.231.40.12"]},
        "'10.231.40.12' must be address:port",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_load_balancer_input_is_refused_before_any_change(lb_bed, tmp_path, case):
    lb_nodes, _, _ = lb_bed
    data, expected = REFUSALS[case]
    run = pyinfra(write_inventory(tmp_path / "bad.py", lb_nodes, **data))
    assert run.returncode != 0
    assert expected in run.output, run.output[-3000:]
    assert all(lb_untouched(n) for n in lb_nodes)


def test_dry_run_shows_the_plan_and_changes_nothing(lb_bed):
    lb_nodes, _, inventory = lb_bed
    run = pyinfra(inventory, "--dry")
    assert run.returncode == 0, run.output[-3000:]
    assert "haproxy: apiserver frontend" in run.output
    assert all(lb_untouched(n) for n in lb_nodes)


def test_deploy_puts_the_vip_in_front_of_every_backend(lb_bed):
    lb_nodes, backends, inventory = lb_bed
    run = deploy_ok(inventory, "--json")
    assert changes(run) > 0
    for node in lb_nodes:
        assert out(node, "systemctl is-active haproxy keepalived").split() == ["active"] * 2
        assert out(node, "stat -c '%a %U' /etc/haproxy/haproxy.cfg") == "644 root"
        assert out(node, "stat -c '%a %U' /etc/keepalived/check_haproxy.sh") == "755 root"
    wait_until(lambda: len(vip_holders(lb_nodes)) == 1, 20, "one VIP holder")
    assert vip_holders(lb_nodes) == [lb_nodes[0].container]  # the highest priority
    served = through_vip(backends[1], 8)
    assert set(served) == {n.container for n in backends}, served


def test_rerun_changes_nothing(lb_bed):
    _, _, inventory = lb_bed
    assert changes(deploy_ok(inventory, "--json")) == 0


def test_config_haproxy_refuses_is_not_installed(lb_bed, tmp_path):
    """A backend name that does not resolve passes the settings check but not ``haproxy -c``."""
    lb_nodes, backends, _ = lb_bed
    before = [out(n, "sha256sum /etc/haproxy/haproxy.cfg") for n in lb_nodes]
    bad = write_inventory(
        tmp_path / "unresolvable.py",
        lb_nodes,
        k8s_lb_vip=VIP,
        k8s_apiserver_backends=[f"{backends[0].ipv4}:{PORT}", f"apiserver.invalid:{PORT}"],
    )
    run = pyinfra(bad)
    assert run.returncode != 0
    assert "apiserver.invalid" in run.output, run.output[-3000:]
    assert [out(n, "sha256sum /etc/haproxy/haproxy.cfg") for n in lb_nodes] == before
    assert all(
        sh(n, "test ! -e /etc/haproxy/haproxy.cfg.deploy-staged").returncode == 0 for n in lb_nodes
    )
    assert all(out(n, "systemctl is-active haproxy") == "active" for n in lb_nodes)
    assert set(through_vip(backends[0], 6)) == {n.container for n in backends}


def test_backend_failing_healthz_is_taken_out(lb_bed):
    _, backends, _ = lb_bed
    sick, well = backends
    out(sick, f"touch {UNHEALTHY_MARK}")
    try:
        wait_until(
            lambda: set(through_vip(well, 6)) == {well.container}, 20, "only the healthy backend"
        )
        assert set(through_vip(well, 10)) == {well.container}
    finally:
        out(sick, f"rm -f {UNHEALTHY_MARK}")
    wait_until(
        lambda: set(through_vip(well, 6)) == {n.container for n in backends},
        20,
        "the recovered backend back in rotation",
    )


class VipPoller:
    """One request through the VIP every 0.2 s while the VIP moves; records each outcome."""

    def __init__(self, client: bed.Node) -> None:
        self.client = client
        self.results: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            ok = sh(self.client, f"curl -skf --max-time 1 https://{VIP}:{PORT}/whoami")
            self.results.append((time.monotonic(), ok.returncode == 0))
            time.sleep(0.2)

    def __enter__(self) -> VipPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_vip_moves_when_its_holders_haproxy_stops(lb_bed):
    lb_nodes, backends, inventory = lb_bed
    holder, other = lb_nodes
    assert vip_holders(lb_nodes) == [holder.container]
    with VipPoller(backends[0]) as poller:
        time.sleep(1)
        stopped_at = time.monotonic()
        out(holder, "systemctl stop haproxy")
        moved = wait_until(
            lambda: vip_holders(lb_nodes) == [other.container], 20, "the VIP on the other host"
        )
        wait_until(
            lambda: len(poller.results) > 5 and all(ok for _, ok in poller.results[-5:]),
            20,
            "requests through the VIP working again",
        )
    failed = [t for t, ok in poller.results if not ok and t >= stopped_at]
    gap = (max(failed) - stopped_at) if failed else 0.0
    print(f"VIP moved after {moved:.1f} s; requests failed for {gap:.1f} s")
    assert all(ok for t, ok in poller.results if t < stopped_at)
    assert gap < 15
    # The deploy starts the stopped haproxy again; the VIP returns to the first host.
    assert changes(deploy_ok(inventory, "--json")) > 0
    wait_until(lambda: vip_holders(lb_nodes) == [holder.container], 20, "the VIP back")
    assert changes(deploy_ok(inventory, "--json")) == 0
