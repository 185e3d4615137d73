"""Operator CAs as they exist in the field: one without a SubjectKeyIdentifier, one expired.

Older kubeadm (and other tools) made CAs without a SubjectKeyIdentifier, so their
leaves cannot copy one into their AuthorityKeyIdentifier. The deploy derives the
AKI from the CA's public key instead (the SHA-1 method of RFC 5280 4.2.1.2, which
is what ``AuthorityKeyIdentifier.from_issuer_public_key`` computes); the cluster
must then work over mutual TLS, and a rerun change nothing. An expired operator CA
is refused before any host changes. Both CAs are made here with ``cryptography``.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests import operator_ca
from tests.e2e.conftest import (
    PKI,
    Bed,
    assert_healthy_cluster,
    deploy_ok,
    make_bed,
    out,
    pyinfra,
    untouched,
)

pytestmark = pytest.mark.e2e

LEAVES = ("etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-small", 3, subnet_index=21)


def ca_without_ski(
    not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[bytes, bytes, rsa.RSAPrivateKey]:
    """An RSA CA as older kubeadm made it (no SKI): PEM certificate, PEM key, and the key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = operator_ca.ca_without_ski(key, not_before, not_after)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, key


def write_ca(b: Bed, name: str, cert_pem: bytes, key_pem: bytes) -> dict[str, str]:
    cert_file, key_file = b.workdir / f"{name}.crt", b.workdir / f"{name}.key"
    cert_file.write_bytes(cert_pem)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key_pem)
    return {"etcd_ca_cert_file": str(cert_file), "etcd_ca_key_file": str(key_file)}


def test_expired_ca_is_refused_then_a_ca_without_ski_works(small: Bed):
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)

    # On the fresh bed: an expired operator CA is refused, and no host changes.
    expired_cert, expired_key, _ = ca_without_ski(now - 400 * day, now - day)
    expired = small.write_inventory(
        "inventory-expired.py", host_data=write_ca(small, "expired-ca", expired_cert, expired_key)
    )
    run = pyinfra(expired)
    assert run.returncode != 0
    assert "etcd_ca_cert_file=" in run.output and "expired" in run.output, run.output[-3000:]
    assert all(untouched(node) for node in small.nodes)

    # A valid CA without SKI: the cluster forms and answers over mutual TLS.
    cert_pem, key_pem, key = ca_without_ski(now - day, now + 3650 * day)
    ca_cert = x509.load_pem_x509_certificate(cert_pem)
    with pytest.raises(x509.ExtensionNotFound):
        ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    inventory = small.write_inventory(
        "inventory-no-ski.py", host_data=write_ca(small, "no-ski-ca", cert_pem, key_pem)
    )
    run = deploy_ok(inventory)
    assert_healthy_cluster(small, run)
    # Debian bookworm's etcd 3.4.23: the version preflight warns, naming the fix.
    assert "MinExternalEtcdVersion 3.5.24" in run.output and "etcd_binary" in run.output

    # Every leaf's AKI is the SHA-1 of the CA's public key (RSA: the PKCS#1 key bytes).
    expected = hashlib.sha1(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    ).digest()
    for node in small.nodes:
        assert out(node, f"cat {PKI}/etcd/ca.crt").encode() == cert_pem.strip()
        for leaf in (*LEAVES, "apiserver-etcd-client.crt"):
            cert = x509.load_pem_x509_certificate(out(node, f"cat {PKI}/{leaf}").encode())
            aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
            assert aki.key_identifier == expected, (node.container, leaf)
            assert cert.issuer == ca_cert.subject

    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
