"""Five members: deploy, then drift repaired by reissue without restarts, and secrets.

Drift on three of five members (a deleted peer certificate, an extra SAN, a foreign
server key): one run must reissue exactly those, restart nobody (etcd reloads its
certificates on each handshake) and serve the new ones, while the cluster keeps
answering. Then the key-material checks:
nothing secret in any output mode, nothing secret on the controller's disk.
"""

from __future__ import annotations

import base64
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import (
    KEY_PATHS,
    PKI,
    REPO,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    etcd_times,
    file_certificate,
    make_bed,
    out,
    pki_digests,
    pyinfra,
    served_certificate,
    sh,
)

pytestmark = pytest.mark.e2e
EXTRA_SAN = "etcd-2.example.test"


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-five", 5, subnet_index=12)


def foreign_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def put_file(node, path: str, content: bytes) -> None:
    """Through stdin, so the foreign key never touches the controller's disk either."""
    result = sh(node, f"cat > {path} && chmod 600 {path}", stdin=content)
    assert result.returncode == 0, result.stderr


def test_five_members_deploy(five: Bed):
    run = deploy_ok(five.inventory)
    assert_healthy_cluster(five, run)


def test_drift_reissues_exactly_the_drifted_and_restarts_nobody(five: Bed):
    nodes = five.nodes
    before = pki_digests(nodes)
    times_before = {n.container: etcd_times(n) for n in nodes}
    assert sh(nodes[1], f"rm {PKI}/etcd/peer.crt").returncode == 0
    put_file(nodes[3], f"{PKI}/etcd/server.key", foreign_key_pem())
    inventory = five.write_inventory("drift.py")
    text = inventory.read_text().replace(
        f"'etcd_address': '{nodes[2].address}'",
        f"'etcd_address': '{nodes[2].address}', 'etcd_server_cert_sans': ['{EXTRA_SAN}']",
    )
    inventory.write_text(text)

    with ClusterPoller(nodes[4], five.endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures

    after = pki_digests(nodes)
    changed = {key for key in after if before.get(key) != after[key]}
    expected = {
        (nodes[1].container, f"{PKI}/etcd/peer.crt"),
        (nodes[1].container, f"{PKI}/etcd/peer.key"),
        (nodes[2].container, f"{PKI}/etcd/server.crt"),
        (nodes[2].container, f"{PKI}/etcd/server.key"),
        (nodes[3].container, f"{PKI}/etcd/server.crt"),
        (nodes[3].container, f"{PKI}/etcd/server.key"),
    }
    assert changed == expected
    cert = x509.load_pem_x509_certificate(out(nodes[2], f"cat {PKI}/etcd/server.crt").encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert EXTRA_SAN in sans.get_values_for_type(x509.DNSName)

    # Same CA: etcd reloads its certificate and key on each new TLS handshake, so the
    # repair restarts nobody, and each repaired member serves its new certificate.
    times_after = {n.container: etcd_times(n) for n in nodes}
    assert times_after == times_before, run.output[-4000:]
    for node, path, port in [
        (nodes[1], f"{PKI}/etcd/peer.crt", 2380),
        (nodes[2], f"{PKI}/etcd/server.crt", 2379),
        (nodes[3], f"{PKI}/etcd/server.crt", 2379),
    ]:
        assert served_certificate(node, port) == file_certificate(node, path), node.container
    assert_healthy_cluster(five, run)
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def key_fragments(pems: list[bytes]) -> set[str]:
    """Recognisable pieces of each key: its PEM body lines and base64 of the whole PEM."""
    fragments = set()
    for pem in pems:
        body = [line for line in pem.decode().splitlines() if line and "-----" not in line]
        fragments.update(body[1:-1])
        encoded = base64.b64encode(pem).decode()
        fragments.update(encoded[i : i + 48] for i in range(0, len(encoded) - 48, 400))
    return fragments


def all_keys(b: Bed) -> list[bytes]:
    keys = []
    for node in b.nodes:
        for path in KEY_PATHS:
            result = sh(node, f"cat {path}")
            if result.returncode == 0:
                keys.append(result.stdout)
    return keys


def test_no_key_material_in_any_output_or_on_the_controller(five: Bed):
    started = time.time()
    nodes = five.nodes
    foreign = foreign_key_pem()
    put_file(nodes[0], f"{PKI}/etcd/server.key", foreign)  # drifted keys: reissue planned
    assert sh(nodes[4], f"rm {PKI}/apiserver-etcd-client.key").returncode == 0
    private_tmp = five.workdir / "pyinfra-tmp"  # where these runs (and docker cp) stage files
    private_tmp.mkdir()
    runs = [
        pyinfra(five.inventory, "--dry", "--diff", "-vvv", "--debug", tmpdir=private_tmp),
        pyinfra(five.inventory, "--dry", "--json", tmpdir=private_tmp),
        # the real repair, verbose
        pyinfra(five.inventory, "--diff", "-vvv", "--debug", tmpdir=private_tmp),
        pyinfra(five.inventory, "--json", tmpdir=private_tmp),
    ]
    for run in runs:
        assert run.returncode == 0, run.output[-4000:]
    # Every command is shown at -vv, the quiet channel's too (each script by its name);
    # what carries keys goes through stdin, never a command line.
    assert (
        ">>> ETCD_MEMO_DIR=/var/cache/etcd-deploy ETCD_REMEMBER=<remember.sh> sh -c "
        "<sections.sh> sections files 'sh -c <read_files.sh> read_files "
    ) in runs[0].output
    assert ">>> base64 -d | sh -c <install_files.sh> install_files" in runs[2].output
    fragments = key_fragments([foreign, *all_keys(five)])
    assert len(fragments) > 50
    for run in runs:
        assert "PRIVATE KEY" not in run.output, run.args
        leaked = [f for f in fragments if f in run.output]
        assert leaked == [], (run.args, leaked[:3])

    for index, node in enumerate(nodes):
        modes = out(node, f"stat -c '%n %a %U %G' {' '.join(KEY_PATHS)} 2>/dev/null || true")
        for line in modes.splitlines():
            path, mode, user, group = line.split()
            assert (mode, user, group) == ("600", "root", "root"), (node.container, path)
        has_ca_key = sh(node, f"test -e {PKI}/etcd/ca.key").returncode == 0
        assert has_ca_key == (index == 0), node.container

    pattern = re.compile(rb"PRIVATE KEY|" + b"|".join(re.escape(f.encode()) for f in fragments))
    for root in (private_tmp, REPO):  # where pyinfra stages files, and the working dir
        for candidate in root.rglob("*"):
            if ".venv" in candidate.parts or ".git" in candidate.parts or not candidate.is_file():
                continue
            try:
                if candidate.stat().st_mtime < started - 1 or candidate.stat().st_size > 1_000_000:
                    continue
                assert not pattern.search(candidate.read_bytes()), f"key material in {candidate}"
            except OSError:
                continue
