"""The five etcd certificates against what kubeadm produces (reference sections 1, 2, 4.4).

The expectations are written out from the reference, not derived from ``certlist``,
so a wrong entry in the table under test shows up here.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import (
    ALL_CERTS,
    ETCD_CA,
    ETCD_PEER,
    ETCD_SERVER,
    MEMBER_CERTS,
    CertSpec,
    expected_files,
)
from etcd_cluster.etcd.cluster import Cluster, Member
from tests.unit.conftest import CA_VALIDITY, LEAF_VALIDITY
from tests.unit.guide import PKI_FILES_HOST0, PKI_FILES_OTHER_HOSTS

PKI_DIR = "/etc/kubernetes/pki"
SERVER_AND_CLIENT = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]
# Reference 4.4: server/peer SANs of infra0 (DNS sorted, then IPs in kubeadm's order).
INFRA0_SANS = ["DNS:infra0", "DNS:localhost", "IP:10.0.0.6", "IP:127.0.0.1", "IP:::1"]


@dataclass(frozen=True)
class Expected:
    """One certificate as reference section 2 describes it for the guide's infra0."""

    common_name: str
    base_name: str
    sans: list[str] | None  # None: no SAN extension
    usages: list[x509.ObjectIdentifier] | None  # None: no extendedKeyUsage extension
    is_ca: bool = False


EXPECTED = {
    "etcd-ca": Expected("etcd-ca", "etcd/ca", ["DNS:etcd-ca"], None, is_ca=True),
    "etcd-server": Expected("infra0", "etcd/server", INFRA0_SANS, SERVER_AND_CLIENT),
    "etcd-peer": Expected("infra0", "etcd/peer", INFRA0_SANS, SERVER_AND_CLIENT),
    "etcd-healthcheck-client": Expected(
        "kube-etcd-healthcheck-client", "etcd/healthcheck-client", None, CLIENT
    ),
    "apiserver-etcd-client": Expected(
        "kube-apiserver-etcd-client", "apiserver-etcd-client", None, CLIENT
    ),
}
SPEC_NAMES = [spec.name for spec in ALL_CERTS]


def issue_leaf(
    spec: CertSpec, ca: pki.KeyPair, member: Member, algorithm: str, now: datetime.datetime
) -> pki.KeyPair:
    """A leaf for ``member`` exactly as ``pki_plan`` would issue it."""
    sans = pki.alt_names(spec, member.name, member.address, member.server_sans, member.peer_sans)
    return pki.new_leaf(spec, ca, spec.subject_cn(member.name), sans, algorithm, LEAF_VALIDITY, now)


@pytest.fixture(scope="module")
def infra0(cluster: Cluster) -> Member:
    return cluster.first


@pytest.fixture(scope="module")
def issued(infra0: Member, now: datetime.datetime) -> dict[str, pki.KeyPair]:
    """kubeadm's default profile (RSA-2048): the CA and infra0's four leaves, by spec name."""
    ca = pki.new_ca(ETCD_CA, "RSA-2048", CA_VALIDITY, now)
    leaves = {spec.name: issue_leaf(spec, ca, infra0, "RSA-2048", now) for spec in MEMBER_CERTS}
    return {ETCD_CA.name: ca, **leaves}


def extension(cert: x509.Certificate, kind: type) -> x509.Extension | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def san_strings(cert: x509.Certificate) -> list[str] | None:
    """The SAN extension in encoded order, as ``DNS:x`` / ``IP:y``; None when absent."""
    found = extension(cert, x509.SubjectAlternativeName)
    if found is None:
        return None
    prefix: dict[type, str] = {x509.DNSName: "DNS", x509.IPAddress: "IP"}
    return [f"{prefix[type(name)]}:{name.value}" for name in found.value]


def test_the_table_declares_kubeadms_five_certificates_in_order():
    assert list(EXPECTED) == SPEC_NAMES
    assert [spec.is_ca for spec in ALL_CERTS] == [True, False, False, False, False]


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_files_are_named_after_kubeadms_base_names(name):
    spec = next(s for s in ALL_CERTS if s.name == name)
    base = EXPECTED[name].base_name
    assert spec.cert_path(PKI_DIR) == f"{PKI_DIR}/{base}.crt"
    assert spec.key_path(PKI_DIR) == f"{PKI_DIR}/{base}.key"


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_subject_is_only_the_common_name_without_organization(issued, name):
    subject = issued[name].cert.subject
    assert subject == x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, EXPECTED[name].common_name)]
    )
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_issuer_is_the_ca_and_the_signature_verifies(issued, name):
    ca = issued[ETCD_CA.name].cert
    assert issued[name].cert.issuer == ca.subject
    assert pki.signed_by(issued[name].cert, ca)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_subject_alternative_names_and_their_order(issued, name):
    assert san_strings(issued[name].cert) == EXPECTED[name].sans


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_key_usage_is_critical_with_cert_sign_only_on_the_ca(issued, name):
    found = extension(issued[name].cert, x509.KeyUsage)
    assert found is not None and found.critical
    usage = found.value
    assert usage.digital_signature and usage.key_encipherment
    assert usage.key_cert_sign is EXPECTED[name].is_ca
    others = (usage.content_commitment, usage.data_encipherment, usage.key_agreement)
    assert not any(others) and not usage.crl_sign


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_extended_key_usages_in_kubeadms_order(issued, name):
    found = extension(issued[name].cert, x509.ExtendedKeyUsage)
    assert (list(found.value) if found else None) == EXPECTED[name].usages
    assert found is None or not found.critical


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_basic_constraints_are_critical_ca_true_only_for_the_ca(issued, name):
    found = extension(issued[name].cert, x509.BasicConstraints)
    assert found is not None and found.critical
    assert found.value.ca is EXPECTED[name].is_ca
    assert found.value.path_length is None


def test_ca_has_a_subject_key_identifier_and_no_authority_key_identifier(issued):
    ca = issued[ETCD_CA.name].cert
    ski = extension(ca, x509.SubjectKeyIdentifier)
    assert ski is not None
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())
    assert extension(ca, x509.AuthorityKeyIdentifier) is None


@pytest.mark.parametrize("spec", MEMBER_CERTS, ids=lambda s: s.name)
def test_leaf_has_no_ski_and_its_aki_is_the_cas_ski(issued, spec):
    leaf = issued[spec.name].cert
    ca_ski = issued[ETCD_CA.name].cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert extension(leaf, x509.SubjectKeyIdentifier) is None
    aki = extension(leaf, x509.AuthorityKeyIdentifier)
    assert aki is not None and aki.value.key_identifier == ca_ski.value.digest


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_validity_is_backdated_five_minutes_and_runs_from_now(issued, now, name):
    cert = issued[name].cert
    period = CA_VALIDITY if EXPECTED[name].is_ca else LEAF_VALIDITY
    assert cert.not_valid_before_utc == now - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == now + period  # from T, not from the backdated start


def test_default_validity_periods_are_kubeadms(settings):
    assert settings.ca_validity_hours == 87600
    assert settings.cert_validity_hours == 8760


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_serial_is_positive_below_2_63_minus_1_and_version_is_v3(issued, name):
    cert = issued[name].cert
    assert 1 <= cert.serial_number < 2**63 - 1
    assert cert.version is x509.Version.v3


def test_serials_are_random_per_certificate(issued):
    serials = {pair.cert.serial_number for pair in issued.values()}
    assert len(serials) == len(issued)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_default_profile_is_rsa_2048_signed_sha256_with_rsa(issued, name):
    pair = issued[name]
    assert isinstance(pair.key, rsa.RSAPrivateKey) and pair.key.key_size == 2048
    assert pair.key.public_key().public_numbers().e == 65537
    assert pair.cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256
    assert pki.key_matches(pair)


# --- Every encryptionAlgorithm (reference 1.1, 1.2, 1.5) -------------------------------

ALGORITHMS: dict[str, tuple[Any, int, str, Any]] = {
    # algorithm: (key type, size in bits, key PEM header, signature algorithm)
    "RSA-2048": (rsa.RSAPrivateKey, 2048, "RSA PRIVATE KEY", SignatureAlgorithmOID.RSA_WITH_SHA256),
    "RSA-3072": (rsa.RSAPrivateKey, 3072, "RSA PRIVATE KEY", SignatureAlgorithmOID.RSA_WITH_SHA256),
    "RSA-4096": (rsa.RSAPrivateKey, 4096, "RSA PRIVATE KEY", SignatureAlgorithmOID.RSA_WITH_SHA256),
    "ECDSA-P256": (
        ec.EllipticCurvePrivateKey,
        256,
        "EC PRIVATE KEY",
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    ),
    "ECDSA-P384": (
        ec.EllipticCurvePrivateKey,
        384,
        "EC PRIVATE KEY",
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    ),
}


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def algorithm_pairs(request, infra0, now) -> tuple[str, list[pki.KeyPair]]:
    """For one algorithm: a CA and the server leaf it signs."""
    algorithm = request.param
    ca = pki.new_ca(ETCD_CA, algorithm, CA_VALIDITY, now)
    return algorithm, [ca, issue_leaf(ETCD_SERVER, ca, infra0, algorithm, now)]


def test_key_type_size_pem_format_and_signature_per_algorithm(algorithm_pairs):
    algorithm, pairs = algorithm_pairs
    key_type, bits, pem_header, signature = ALGORITHMS[algorithm]
    for pair in pairs:
        assert isinstance(pair.key, key_type)
        assert pair.key.key_size == bits
        assert pki.key_algorithm(pair.key) == algorithm
        assert pair.key_pem.startswith(f"-----BEGIN {pem_header}-----\n".encode())
        assert pair.cert.signature_algorithm_oid == signature
        assert pair.cert_pem.count(b"-----BEGIN CERTIFICATE-----") == 1
        assert pki.load_pair(pair.cert_pem, pair.key_pem).cert == pair.cert


def test_keypair_repr_shows_the_subject_and_no_key_material(issued):
    pair = issued[ETCD_SERVER.name]
    text = repr(pair)
    assert "CN=infra0" in text
    assert "PRIVATE" not in text
    body_lines = [line for line in pair.key_pem.decode().splitlines() if "-----" not in line]
    assert not any(line in text for line in body_lines)
    assert isinstance(pair.key, rsa.RSAPrivateKey)
    assert str(pair.key.private_numbers().d) not in text


# --- SANs (reference 1.6, 2.2, 2.3) ----------------------------------------------------


def sans_of(alt: pki.AltNames | None) -> list[str] | None:
    return (
        None if alt is None else [*(f"DNS:{d}" for d in alt.dns), *(f"IP:{ip}" for ip in alt.ips)]
    )


@pytest.mark.parametrize("spec", [ETCD_SERVER, ETCD_PEER], ids=lambda s: s.name)
def test_the_guides_cert_san_host_is_not_repeated(spec):
    """The guide puts ${HOST} into serverCertSANs/peerCertSANs: kubeadm drops the duplicate."""
    alt = pki.alt_names(spec, "infra0", "10.0.0.6", ["10.0.0.6"], ["10.0.0.6"])
    assert sans_of(alt) == INFRA0_SANS


def test_extra_sans_land_in_the_dns_or_ip_list_of_their_own_certificate():
    server_sans = ["etcd.example.com", "192.168.1.5", "10.0.0.6", "a.example.com", "fd00::5"]
    peer_sans = ["peer.example.com", "0:0:0:0:0:0:0:1"]
    server = pki.alt_names(ETCD_SERVER, "infra0", "10.0.0.6", server_sans, peer_sans)
    peer = pki.alt_names(ETCD_PEER, "infra0", "10.0.0.6", server_sans, peer_sans)
    assert sans_of(server) == [
        "DNS:a.example.com",
        "DNS:etcd.example.com",
        "DNS:infra0",
        "DNS:localhost",
        "IP:10.0.0.6",
        "IP:127.0.0.1",
        "IP:::1",
        "IP:192.168.1.5",
        "IP:fd00::5",
    ]
    # ::1 written out in full is the same address: de-duplicated, not added twice.
    assert sans_of(peer) == [
        "DNS:infra0",
        "DNS:localhost",
        "DNS:peer.example.com",
        "IP:10.0.0.6",
        "IP:127.0.0.1",
        "IP:::1",
    ]


def test_san_ips_are_encoded_as_ip_addresses():
    alt = pki.alt_names(ETCD_SERVER, "infra0", "fd00::6")
    assert alt is not None
    names = list(alt.extension())
    assert [type(n) for n in names] == [x509.DNSName] * 2 + [x509.IPAddress] * 3
    assert [n.value for n in names[2:]] == [
        ipaddress.ip_address("fd00::6"),
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


@pytest.mark.parametrize("name", ["etcd-healthcheck-client", "apiserver-etcd-client"])
def test_client_certificates_get_no_sans_even_with_extra_sans(name):
    spec = next(s for s in MEMBER_CERTS if s.name == name)
    assert pki.alt_names(spec, "infra0", "10.0.0.6", ["x.example"], ["y.example"]) is None


# --- Guide step 6: the expected files ----------------------------------------------------


@pytest.mark.parametrize(
    ("is_first", "guide_list"),
    [(True, PKI_FILES_HOST0), (False, PKI_FILES_OTHER_HOSTS)],
    ids=["HOST0", "HOST1-2"],
)
def test_expected_files_are_the_guides_step_6_list(is_first, guide_list):
    files = expected_files(PKI_DIR, is_first=is_first)
    assert [f.path for f in files] == [f"{PKI_DIR}/{p}" for p in guide_list]
    for f in files:
        is_key = f.path.endswith(".key")
        assert (f.mode, f.secret) == (("600", True) if is_key else ("644", False))


def test_expected_files_follow_a_custom_certificates_dir():
    files = expected_files("/srv/etcd-pki", is_first=True)
    assert [f.path for f in files] == [f"/srv/etcd-pki/{p}" for p in PKI_FILES_HOST0]
