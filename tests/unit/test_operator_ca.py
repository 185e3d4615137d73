"""Operator CAs as they exist in the field: without a SubjectKeyIdentifier, expired, early.

A CA made by older kubeadm has no SKI; its leaves get an AuthorityKeyIdentifier
derived from its public key, and keep passing the checks on later runs. An expired
(or not yet valid) CA is refused before any host changes, with the fix in the message.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_SERVER, MEMBER_CERTS
from etcd_cluster.certs.plan import CertificateAuthority, choose_ca, plan_member
from etcd_cluster.engine.remote import RemoteFile
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.cluster import Cluster
from tests import operator_ca
from tests.unit.conftest import LEAF_VALIDITY
from tests.unit.test_pki_plan import never_read

DAY = datetime.timedelta(days=1)


def ca_without_ski(now: datetime.datetime, start: int = -1, end: int = 3650) -> pki.KeyPair:
    """A CA as older kubeadm made it (no SKI), valid from ``start`` to ``end`` days from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    return pki.KeyPair(operator_ca.ca_without_ski(key, now + start * DAY, now + end * DAY), key)


@pytest.fixture(scope="module")
def no_ski_ca(now: datetime.datetime) -> pki.KeyPair:
    return ca_without_ski(now)


def sha1_of_public_key(ca: pki.KeyPair) -> bytes:
    """RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (EC: the point)."""
    point = ca.cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return hashlib.sha1(point).digest()


def test_a_leaf_of_a_ca_without_ski_gets_an_aki_from_the_cas_public_key(
    ec_cluster: Cluster, no_ski_ca, now
):
    member = ec_cluster.first
    sans = pki.alt_names(ETCD_SERVER, member.name, member.address)
    leaf = pki.new_leaf(ETCD_SERVER, no_ski_ca, member.name, sans, "ECDSA-P256", LEAF_VALIDITY, now)
    aki = leaf.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == sha1_of_public_key(no_ski_ca)
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    assert pki.signed_by(leaf.cert, no_ski_ca.cert)
    renew_after = now + 30 * DAY
    assert (
        pki.leaf_problems(
            ETCD_SERVER,
            leaf.cert,
            pki.public_key_sha256(leaf.key.public_key()),
            no_ski_ca.cert,
            member.name,
            sans,
            "ECDSA-P256",
            renew_after,
            now,
        )
        == []
    )


def test_a_ca_with_ski_still_gives_its_ski_as_the_aki(ca):
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert pki.authority_key_identifier(ca.cert).key_identifier == ski.digest


def test_a_member_signed_by_a_ca_without_ski_is_kept_on_the_next_run(
    ec_cluster: Cluster, no_ski_ca, now
):
    member = ec_cluster.members[1]
    authority = CertificateAuthority.from_pair(no_ski_ca, "the test CA")
    first = plan_member(ec_cluster, member, authority, {}, now)
    assert set(first.reissued) == {spec.name for spec in MEMBER_CERTS}
    held = {
        p: RemoteFile(
            None if w.public_key_sha256 else w.content, w.mode, w.user, w.group, w.public_key_sha256
        )
        for p, w in first.wanted.items()
    }
    again = plan_member(ec_cluster, member, authority, held, now)
    assert again.reissued == {} and again.pending() == {}


def test_an_operator_ca_without_ski_is_usable(make_cluster, make_settings, no_ski_ca, now):
    settings = make_settings(
        etcd_key_algorithm="ECDSA-P256",
        etcd_ca_cert_file="/srv/ca.crt",
        etcd_ca_key_file="/srv/ca.key",
    )
    chosen, created = choose_ca(
        make_cluster(settings_=settings),
        {},
        (no_ski_ca.cert_pem, no_ski_ca.key_pem),
        now,
        never_read,
    )
    assert chosen.cert == no_ski_ca.cert and not created


@pytest.mark.parametrize(
    ("start", "end", "named"),
    [
        (-400, -1, ["expired", "etcd_ca_cert_file/etcd_ca_key_file", "openssl req -x509"]),
        (2, 400, ["not valid before", "clock"]),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_an_operator_ca_outside_its_validity_is_refused(
    make_cluster, make_settings, now, start, end, named
):
    bad = ca_without_ski(now, start, end)
    settings = make_settings(etcd_ca_cert_file="/srv/ca.crt", etcd_ca_key_file="/srv/ca.key")
    with pytest.raises(DeployInputError) as refused:
        choose_ca(
            make_cluster(settings_=settings), {}, (bad.cert_pem, bad.key_pem), now, never_read
        )
    message = str(refused.value)
    assert "etcd_ca_cert_file='/srv/ca.crt'" in message
    for text in named:
        assert text in message


def test_an_expired_ca_on_the_first_member_is_refused(ec_cluster: Cluster, now):
    expired = ca_without_ski(now, -400, -1)
    pki_dir = ec_cluster.settings.pki_dir
    key_sha256 = pki.public_key_sha256(expired.key.public_key())
    first = {
        ETCD_CA.cert_path(pki_dir): RemoteFile(expired.cert_pem, "644", "root", "root"),
        ETCD_CA.key_path(pki_dir): RemoteFile(None, "600", "root", "root", key_sha256),
    }
    with pytest.raises(DeployInputError) as refused:
        choose_ca(ec_cluster, {ec_cluster.first.host: first}, None, now, never_read)
    assert f"on {ec_cluster.first.host}" in str(refused.value)
    assert "expired" in str(refused.value)


def test_ca_validity_edges(now):
    soon = ca_without_ski(now, -1, 10)  # valid now, expires before new leaves would: a warning
    assert pki.ca_validity_problems(soon.cert, now) == []
    assert pki.ca_validity_problems(soon.cert, now + 10 * DAY)  # the instant it expires
    skewed = now - pki.CERTIFICATE_BACKDATE + datetime.timedelta(seconds=1)
    assert pki.ca_validity_problems(ca_without_ski(now, 0).cert, skewed) == []
