"""Which certificates each member keeps and which it gets anew: pure, in memory.

Given the files a member holds now (certificates with their content, private keys
only as the hash of their public half), the plan keeps every valid certificate as it
is and reissues one only when it is missing, unreadable, not signed by the current
CA, has another subject, SANs, usages or key type, does not match its key, or
expires inside the renewal window. The CA is the operator's, or the first
member's, or (on a first bootstrap only) a new one. The CA's private key is read
only when something must be signed: ``CertificateAuthority.pair`` loads it once.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import (
    APISERVER_ETCD_CLIENT,
    CERT_MODE,
    ETCD_CA,
    KEY_MODE,
    MEMBER_CERTS,
)
from etcd_cluster.engine.limit import FULL_RUN, signing_refusal
from etcd_cluster.engine.remote import RemoteFile, Wanted
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.cluster import Cluster, Member

KeyLoader = Callable[[], bytes]


@dataclass
class CertificateAuthority:
    """The etcd CA: its certificate, and its key loaded only when first needed."""

    cert_pem: bytes
    key_sha256: str
    load_key: KeyLoader
    key_pem: bytes | None = None  # known up front for a new or an operator's CA
    where: str = ""  # where the key lives, for error messages
    on_first_member: bool = False  # the key is the first member's own ca.key: never rewritten
    _pair: pki.KeyPair | None = field(default=None, repr=False)

    @cached_property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def key_was_read(self) -> bool:
        return self._pair is not None

    def pair(self) -> pki.KeyPair:
        """The CA with its private key, read (once) for signing."""
        if self._pair is None:
            if self.key_pem is None:
                self.key_pem = self.load_key()
            try:
                pair = pki.load_pair(self.cert_pem, self.key_pem)
            except ValueError as error:
                raise DeployInputError(
                    f"{self.where}: the CA key is not readable ({error})"
                ) from None
            if not pki.key_matches(pair):
                raise DeployInputError(f"{self.where}: the CA key does not match ca.crt")
            self._pair = pair
        return self._pair

    @classmethod
    def from_pair(cls, pair: pki.KeyPair, where: str) -> CertificateAuthority:
        def loaded() -> bytes:
            return pair.key_pem

        return cls(
            pair.cert_pem,
            pki.public_key_sha256(pair.key.public_key()),
            loaded,
            key_pem=pair.key_pem,
            where=where,
            _pair=pair,
        )


@dataclass
class MemberPlan:
    """The PKI files one member should hold, against what it holds now."""

    member: Member
    wanted: dict[str, Wanted]
    current: dict[str, RemoteFile]
    reissued: dict[str, list[str]] = field(default_factory=dict)  # cert name -> reasons

    def pending(self) -> dict[str, Wanted]:
        """Files to write: content, mode or owner differ."""
        return {p: w for p, w in self.wanted.items() if not w.satisfied_by(self.current.get(p))}

    def content_changed(self, paths: set[str] | None = None) -> bool:
        """True when a certificate or key (of ``paths``, if given) gets new content."""
        return any(
            not w.same_content(self.current.get(p))
            for p, w in self.wanted.items()
            if paths is None or p in paths
        )

    def earliest_expiry(self) -> datetime.datetime:
        return min(
            x509.load_pem_x509_certificate(w.content).not_valid_after_utc
            for p, w in self.wanted.items()
            if p.endswith(".crt") and w.content is not None
        )


def choose_ca(
    cluster: Cluster,
    current: Mapping[str, Mapping[str, RemoteFile]],
    operator_ca: tuple[bytes, bytes] | None,
    now: datetime.datetime,
    read_ca_key: Callable[[str], bytes],
) -> tuple[CertificateAuthority, bool]:
    """The CA to sign with, and whether it is new. ``current`` is keyed by host name.

    ``read_ca_key(host)`` reads a host's ca.key; it is called only if a certificate
    must be signed, or the key must move to a new first member (when the first member
    changed, it comes from the host that holds it). Refuses to mint a new CA while any
    member still holds one, and to switch CAs under running members (peers on
    different CAs cannot talk: that is a rotation, which is not automated).
    """
    s = cluster.settings
    first = cluster.first
    cert_path, key_path = ETCD_CA.cert_path(s.pki_dir), ETCD_CA.key_path(s.pki_dir)
    first_files = current.get(first.host, {})
    if operator_ca is not None:
        where = f"etcd_ca_cert_file={s.ca_cert_file!r}"
        pair = _load_operator_ca(*operator_ca, where)
        ca, source = CertificateAuthority.from_pair(pair, where), "operator"
    elif holder := _ca_holder(current, first.host, cert_path, key_path):
        where = f"{cert_path} and {key_path} on {holder}"
        cert_pem = current[holder][cert_path].content or b""
        key_sha256 = current[holder][key_path].public_key_sha256
        _check_ca(cert_pem, key_sha256, where)
        ca = CertificateAuthority(
            cert_pem,
            key_sha256,
            lambda: read_ca_key(holder),
            where=where,
            on_first_member=holder == first.host,
        )
        source = "first" if holder == first.host else f"{holder}'s"
    elif cert_path in first_files:
        raise DeployInputError(
            f"host {first.host} (first etcd member) has {cert_path} but not {key_path}: "
            "restore ca.key there, or point etcd_ca_cert_file/etcd_ca_key_file at the CA"
        )
    elif key_path in first_files:
        raise DeployInputError(
            f"host {first.host} (first etcd member) has {key_path} but not {cert_path}: "
            "restore ca.crt there, or point etcd_ca_cert_file/etcd_ca_key_file at the CA"
        )
    else:
        holders = [h for h, files in current.items() if cert_path in files or key_path in files]
        if holders:
            raise DeployInputError(
                f"host {first.host} (first etcd member) has no etcd CA, but "
                f"{', '.join(holders)} hold one: restore {cert_path} and {key_path} on "
                f"{first.host} instead of minting a new CA"
            )
        validity = datetime.timedelta(hours=s.ca_validity_hours)
        pair = pki.new_ca(ETCD_CA, s.key_algorithm, validity, now)
        return CertificateAuthority.from_pair(pair, f"the new CA for {first.host}"), True
    for host, files in current.items():
        if cert_path in files and not same_certificate(files[cert_path].content, ca.cert):
            raise DeployInputError(
                f"host {host} trusts another etcd CA than the {source} CA: "
                "CA rotation is not automated; refusing to reissue every certificate"
            )
    return ca, False


def trusted_ca(
    cluster: Cluster, current: Mapping[str, Mapping[str, RemoteFile]]
) -> CertificateAuthority:
    """The CA the members inside --limit trust, when the first member (the only holder of
    ca.key) is left out: certificates are checked against it, and signing one refuses,
    naming the first member (``limit.signing_refusal``)."""
    cert_path = ETCD_CA.cert_path(cluster.settings.pki_dir)
    first = cluster.first
    certs = [
        (h, files[cert_path].content or b"") for h, files in current.items() if cert_path in files
    ]
    if not certs:
        raise DeployInputError(
            f"no member inside --limit holds {cert_path}, and {first.host} (first etcd member) "
            f"is left out: add {first.host} to --limit or {FULL_RUN}"
        )
    holder, cert_pem = certs[0]
    cert = x509.load_pem_x509_certificate(cert_pem)
    for host, pem in certs[1:]:
        if not same_certificate(pem, cert):
            raise DeployInputError(
                f"host {host} trusts another etcd CA than {holder}: CA rotation is not "
                "automated; refusing to reissue every certificate"
            )

    def refuse() -> bytes:
        raise DeployInputError(signing_refusal(first))

    return CertificateAuthority(
        cert_pem,
        pki.public_key_sha256(cert.public_key()),
        refuse,
        where=f"{cert_path} on {holder}",
        on_first_member=True,
    )


def _ca_holder(
    current: Mapping[str, Mapping[str, RemoteFile]], first: str, cert_path: str, key_path: str
) -> str:
    """The host whose ca.crt and ca.key are the CA: the first member, else (the first member
    changed) another host holding both, whose key then moves to the first member."""
    first_files = current.get(first, {})
    if cert_path in first_files and key_path in first_files:
        return first
    if key_path in first_files:
        return ""  # a lone ca.key on the first member: refused below, never overwritten
    for host, files in current.items():
        if cert_path in files and key_path in files:
            return host
    return ""  # no one holds the key: ca.crt alone on the first member is refused below


def same_certificate(pem: bytes | None, cert: x509.Certificate) -> bool:
    """The same certificate, whatever its PEM layout (CRLF, text around the block)."""
    try:
        return x509.load_pem_x509_certificate(pem or b"") == cert
    except ValueError:
        return False


def _check_ca(cert_pem: bytes, key_sha256: str, where: str) -> None:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise DeployInputError(f"{where}: not a readable PEM certificate ({error})") from None
    extra = extra_certificates(cert_pem)
    if extra:
        raise DeployInputError(
            f"{where}: the CA file holds {len(extra)} more certificate(s) after the etcd CA, "
            f"which etcd would trust too: {'; '.join(extra)}; remove them (refusing to copy "
            "the bundle to every member)"
        )
    problems = pki.ca_problems(cert, key_sha256)
    if problems:
        raise DeployInputError(f"{where}: unusable etcd CA: {'; '.join(problems)}")


def extra_certificates(pem: bytes) -> list[str]:
    """The subjects of the certificates after the first in ``pem`` (a CA file must hold
    exactly one: etcd trusts every certificate in its ``--trusted-ca-file``)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certificates = []
    extra = [f"subject {c.subject.rfc4514_string()!r}" for c in certificates[1:]]
    others = pem.count(b"-----BEGIN ") - max(len(certificates), 1)
    return extra + [f"{others} other PEM block(s)"] * (others > 0)


def _load_operator_ca(cert_pem: bytes, key_pem: bytes, where: str) -> pki.KeyPair:
    try:
        pair = pki.load_pair(cert_pem, key_pem)
    except ValueError as error:
        raise DeployInputError(
            f"{where}: not a readable PEM certificate and key ({error})"
        ) from None
    _check_ca(cert_pem, pki.public_key_sha256(pair.key.public_key()), where)
    return pair


def member_missing_keys(cluster: Cluster, files: Mapping[str, RemoteFile]) -> int:
    """Keys the plan makes for one member whatever else it finds: one per member
    certificate whose certificate or key file is missing from ``files`` (what its survey
    read). Reissues of certificates that are there are not counted: their keys are made
    as they come."""
    pki_dir = cluster.settings.pki_dir
    pairs = [(spec.cert_path(pki_dir), spec.key_path(pki_dir)) for spec in MEMBER_CERTS]
    return sum(1 for cert, key in pairs if cert not in files or key not in files)


def missing_keys(
    cluster: Cluster, current: Mapping[str, Mapping[str, RemoteFile]], new_ca: bool
) -> int:
    """Keys the plan makes whatever else it finds (``keys_ahead`` makes them at once): each
    member's (``member_missing_keys``) on ``current``'s hosts, and the CA's when a new CA
    is made."""
    return sum(member_missing_keys(cluster, files) for files in current.values()) + int(new_ca)


def plan_member(
    cluster: Cluster,
    member: Member,
    ca: CertificateAuthority,
    current: Mapping[str, RemoteFile],
    now: datetime.datetime,
) -> MemberPlan:
    """Keep or reissue each of the member's four certificates; ca.key on the first only."""
    s = cluster.settings
    plan = MemberPlan(member, {}, dict(current))
    plan.wanted[ETCD_CA.cert_path(s.pki_dir)] = Wanted(ca.cert_pem, CERT_MODE)
    if member is cluster.first:
        # the first member's own key stays as it is; a new, operator's or moved key is written
        key_pem = None if ca.on_first_member else ca.pair().key_pem
        plan.wanted[ETCD_CA.key_path(s.pki_dir)] = Wanted(
            key_pem, KEY_MODE, public_key_sha256=ca.key_sha256
        )
    renew_after = now + datetime.timedelta(days=s.renew_before_days)
    for spec in MEMBER_CERTS:
        cert_path, key_path = spec.cert_path(s.pki_dir), spec.key_path(s.pki_dir)
        common_name = spec.subject_cn(member.name)
        sans = pki.alt_names(
            spec, member.name, member.address, member.server_sans, member.peer_sans
        )
        cert_file, key_file = current.get(cert_path), current.get(key_path)
        if cert_file is None or key_file is None:
            reasons = [f"{cert_path if cert_file is None else key_path} is missing"]
        else:
            try:
                cert = x509.load_pem_x509_certificate(cert_file.content or b"")
            except ValueError:
                reasons = ["certificate is not readable PEM"]
            else:
                reasons = pki.leaf_problems(
                    spec,
                    cert,
                    key_file.public_key_sha256,
                    ca.cert,
                    common_name,
                    sans,
                    s.key_algorithm,
                    renew_after,
                    now,
                )
        if reasons:
            validity = datetime.timedelta(hours=s.cert_validity_hours)
            pair = pki.new_leaf(spec, ca.pair(), common_name, sans, s.key_algorithm, validity, now)
            plan.reissued[spec.name] = reasons
            plan.wanted[cert_path] = Wanted(pair.cert_pem, CERT_MODE)
            plan.wanted[key_path] = Wanted(
                pair.key_pem,
                KEY_MODE,
                public_key_sha256=pki.public_key_sha256(pair.key.public_key()),
            )
        else:
            assert cert_file is not None and key_file is not None
            plan.wanted[cert_path] = Wanted(cert_file.content, CERT_MODE)
            plan.wanted[key_path] = Wanted(
                None, KEY_MODE, public_key_sha256=key_file.public_key_sha256
            )
    return plan


def control_plane_files(cluster: Cluster, first_plan: MemberPlan) -> dict[str, Wanted]:
    """What the HA guide copies to a control-plane node: ca.crt and the apiserver client pair.

    The client key is copied from the first member (``source``) when the control-plane
    host does not hold the same key already; it is read only then.
    """
    s = cluster.settings
    ca_crt = ETCD_CA.cert_path(s.pki_dir)
    client_crt = APISERVER_ETCD_CLIENT.cert_path(s.pki_dir)
    client_key = APISERVER_ETCD_CLIENT.key_path(s.pki_dir)
    key = first_plan.wanted[client_key]
    return {
        ca_crt: first_plan.wanted[ca_crt],
        client_crt: first_plan.wanted[client_crt],
        client_key: Wanted(
            key.content, key.mode, public_key_sha256=key.public_key_sha256, source=client_key
        ),
    }
