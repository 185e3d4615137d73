"""Certificates and keys made with ``cryptography``, the way kubeadm makes them.

Everything here works in memory: PEM bytes in, PEM bytes out. Nothing is written
to disk and nothing is logged. The reference for every field is
kubeadm's own source: ``cmd/kubeadm/app/phases/certs/certlist.go`` and
``cmd/kubeadm/app/util/pkiutil/pki_helpers.go`` (kubernetes/kubernetes).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from etcd_cluster.certs import keys_ahead
from etcd_cluster.certs.certlist import CertSpec, SanRule
from etcd_cluster.settings import is_ip

CERTIFICATE_BACKDATE = datetime.timedelta(minutes=5)  # kubeadm's CertificateBackdate

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class KeyPair:
    """A certificate with its private key; PEM encodings as kubeadm writes them."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        # PKCS#1 for RSA, SEC1 for ECDSA: kubeadm's MarshalPrivateKeyToPEM.
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return f"KeyPair(subject={self.cert.subject.rfc4514_string()!r})"


@dataclass(frozen=True)
class AltNames:
    """SANs in kubeadm's order: DNS names de-duplicated and sorted, IPs de-duplicated in order."""

    dns: tuple[str, ...]
    ips: tuple[IPAddress, ...]

    @classmethod
    def build(cls, dns: Sequence[str], ips: Sequence[str]) -> AltNames:
        unique_ips: list[IPAddress] = []
        for text in ips:
            ip = ipaddress.ip_address(text)
            if ip not in unique_ips:
                unique_ips.append(ip)
        return cls(tuple(sorted(set(dns))), tuple(unique_ips))

    def extension(self) -> x509.SubjectAlternativeName:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        names += [x509.IPAddress(ip) for ip in self.ips]
        return x509.SubjectAlternativeName(names)


def alt_names(
    spec: CertSpec,
    member_name: str,
    member_address: str,
    server_sans: Sequence[str] = (),
    peer_sans: Sequence[str] = (),
) -> AltNames | None:
    """kubeadm's getAltNames for etcd: name, localhost, address, loopbacks, plus extra SANs."""
    if spec.san_rule is SanRule.NONE:
        return None
    if spec.san_rule is SanRule.CA:
        return AltNames.build([spec.subject_cn(member_name)], [])
    extra = server_sans if spec.san_rule is SanRule.SERVER else peer_sans
    dns = [member_name, "localhost"] + [s for s in extra if not is_ip(s)]
    ips = [member_address, "127.0.0.1", "::1"] + [s for s in extra if is_ip(s)]
    return AltNames.build(dns, ips)


def generate_key(algorithm: str) -> PrivateKey:
    """A new key: one made ahead for the plan being built (``keys_ahead``), else made now."""
    ahead = keys_ahead.take(algorithm)
    return ahead if ahead is not None else new_key(algorithm)


def new_key(algorithm: str) -> PrivateKey:
    """kubeadm's encryptionAlgorithm: RSA-2048 (default), RSA-3072/4096, ECDSA-P256/P384."""
    if algorithm.startswith("RSA-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    curves: dict[str, ec.EllipticCurve] = {
        "ECDSA-P256": ec.SECP256R1(),
        "ECDSA-P384": ec.SECP384R1(),
    }
    return ec.generate_private_key(curves[algorithm])


def key_algorithm(key: PrivateKey | PublicKey | object) -> str:
    """The encryptionAlgorithm name that describes ``key`` (private or public)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return {"secp256r1": "ECDSA-P256", "secp384r1": "ECDSA-P384"}.get(
            key.curve.name, key.curve.name
        )
    return type(key).__name__


def _signature_hash(ca_key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(ca_key, ec.EllipticCurvePrivateKey) and ca_key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _serial() -> int:
    """kubeadm: crypto/rand in [0, MaxInt64-1) plus one."""
    return secrets.randbelow(2**63 - 2) + 1


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def new_ca(
    spec: CertSpec, algorithm: str, validity: datetime.timedelta, now: datetime.datetime
) -> KeyPair:
    """A self-signed CA as kubeadm's NewSelfSignedCACert."""
    key = generate_key(algorithm)
    name = _name(spec.subject_cn(""))
    sans = alt_names(spec, "", "")
    assert sans is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - CERTIFICATE_BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(sans.extension(), critical=False)
    )
    return KeyPair(builder.sign(key, _signature_hash(key)), key)


def new_leaf(
    spec: CertSpec,
    ca: KeyPair,
    common_name: str,
    sans: AltNames | None,
    algorithm: str,
    validity: datetime.timedelta,
    now: datetime.datetime,
) -> KeyPair:
    """A leaf signed by ``ca`` as kubeadm's NewSignedCert (no SKI; AKI = CA's SKI)."""
    key = generate_key(algorithm)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - CERTIFICATE_BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(spec.usages)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(authority_key_identifier(ca.cert), critical=False)
    )
    if sans is not None:
        builder = builder.add_extension(sans.extension(), critical=False)
    return KeyPair(builder.sign(ca.key, _signature_hash(ca.key)), key)


def authority_key_identifier(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The CA's SKI, as Go copies it; for a CA without one (older kubeadm, other tools), the
    SHA-1 of its public key (RFC 5280 4.2.1.2 method 1), which is what its SKI would be."""
    ski = _extension(ca, x509.SubjectKeyIdentifier)
    if isinstance(ski, x509.SubjectKeyIdentifier):
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    public_key = ca.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)


def load_pair(cert_pem: bytes, key_pem: bytes) -> KeyPair:
    """Parse PEM bytes; ValueError if either is unreadable or the key is of another kind."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported private key type")
    return KeyPair(cert, key)


def public_key_sha256(public_key: CertificatePublicKeyTypes | PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, as ``openssl pkey -pubout -outform DER`` prints it.

    Hosts report this for each private key, so a key can be matched to its
    certificate without the key ever leaving the host.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_matches(pair: KeyPair) -> bool:
    return public_key_sha256(pair.cert.public_key()) == public_key_sha256(pair.key.public_key())


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    public_key = ca.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            assert cert.signature_hash_algorithm is not None
            public_key.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                cert.signature_hash_algorithm,
            )
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            assert cert.signature_hash_algorithm is not None
            public_key.verify(
                cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _extension(cert: x509.Certificate, kind: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def ca_validity_problems(cert: x509.Certificate, now: datetime.datetime) -> list[str]:
    """Why a CA certificate cannot be used at ``now``: expired or not yet valid.

    Members would reject every certificate it signs, and replacing it under running
    members is a CA rotation, which this deploy does not automate: refuse, with the fix.
    """
    if cert.not_valid_after_utc <= now:
        return [
            f"expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: re-issue it with the same "
            "key and subject (for kubeadm's etcd-ca: `openssl req -x509 -new -key ca.key "
            "-subj /CN=etcd-ca -days 3650`), or point etcd_ca_cert_file/etcd_ca_key_file at a "
            "valid CA (on a cluster that already runs, another CA is a rotation, which this "
            "deploy does not automate)"
        ]
    if cert.not_valid_before_utc > now + CERTIFICATE_BACKDATE:
        return [
            f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check the clock "
            "of the machine running pyinfra, or use a CA that is valid now"
        ]
    return []


def ca_problems(
    cert: x509.Certificate, key_sha256: str, now: datetime.datetime | None = None
) -> list[str]:
    """Why a CA cannot sign (empty when usable); ``key_sha256`` as for ``leaf_problems``;
    ``now`` defaults to the current time."""
    problems = ca_validity_problems(cert, now or datetime.datetime.now(datetime.UTC))
    constraints = _extension(cert, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        problems.append("certificate is not a CA (basicConstraints CA:FALSE or absent)")
    if key_sha256 != public_key_sha256(cert.public_key()):
        problems.append("private key does not match the certificate")
    return problems


def leaf_problems(
    spec: CertSpec,
    cert: x509.Certificate,
    key_sha256: str,
    ca: x509.Certificate,
    common_name: str,
    sans: AltNames | None,
    algorithm: str,
    renew_after: datetime.datetime,
    now: datetime.datetime | None = None,
) -> list[str]:
    """Why an existing leaf must be reissued (empty when it is kept as it is).

    ``key_sha256`` is the hash of the public half of the key the host holds for it
    (``public_key_sha256``; "" when the key is unreadable).
    """
    problems = []
    if now is not None and cert.not_valid_before_utc > now + CERTIFICATE_BACKDATE:
        problems.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if _extension(cert, x509.KeyUsage) != _key_usage(cert_sign=False):
        problems.append("key usages differ from kubeadm's profile")
    constraints = _extension(cert, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        problems.append("is a CA certificate")
    if not signed_by(cert, ca):
        problems.append("not signed by the current etcd CA")
    if cert.subject != _name(common_name):
        problems.append(f"subject is {cert.subject.rfc4514_string()}, expected CN={common_name}")
    usages = _extension(cert, x509.ExtendedKeyUsage)
    if not isinstance(usages, x509.ExtendedKeyUsage) or set(usages) != set(spec.usages):
        problems.append("extended key usages differ from kubeadm's profile")
    actual_sans = _extension(cert, x509.SubjectAlternativeName)
    expected = sans.extension() if sans is not None else None
    if _san_set(actual_sans) != _san_set(expected):
        problems.append("subject alternative names differ")
    if not key_sha256:
        problems.append("private key is not readable")
    elif key_sha256 != public_key_sha256(cert.public_key()):
        problems.append("private key does not match the certificate")
    elif key_algorithm(cert.public_key()) != algorithm:
        problems.append(f"key is {key_algorithm(cert.public_key())}, expected {algorithm}")
    if cert.not_valid_after_utc <= renew_after:
        problems.append(
            f"expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, inside the renewal window"
        )
    return problems


def _san_set(value: object | None) -> set[str]:
    if not isinstance(value, x509.SubjectAlternativeName):
        return set()
    return {f"{type(name).__name__}:{name.value}" for name in value}
