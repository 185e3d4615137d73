"""Which certificates each member keeps and which it gets anew: pure, in memory.

Given the files a member holds now, the plan keeps every valid certificate as it
is and reissues one only when it is missing, unreadable, not signed by the current
CA, has another subject, SANs, usages or key type, does not match its key, or
expires inside the renewal window. The CA is the operator's, or the first
member's, or (on a first bootstrap only) a new one.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509

from etcd_cluster import pki
from etcd_cluster.certlist import APISERVER_ETCD_CLIENT, CERT_MODE, ETCD_CA, KEY_MODE, MEMBER_CERTS
from etcd_cluster.cluster import Cluster, Member
from etcd_cluster.errors import DeployInputError
from etcd_cluster.remote import RemoteFile, Wanted


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
            self.current.get(p) is None or self.current[p].content != w.content
            for p, w in self.wanted.items()
            if paths is None or p in paths
        )

    def earliest_expiry(self) -> datetime.datetime:
        return min(
            x509.load_pem_x509_certificate(w.content).not_valid_after_utc
            for p, w in self.wanted.items()
            if p.endswith(".crt")
        )


def choose_ca(
    cluster: Cluster,
    current: Mapping[str, Mapping[str, RemoteFile]],
    operator_ca: tuple[bytes, bytes] | None,
    now: datetime.datetime,
) -> tuple[pki.KeyPair, bool]:
    """The CA to sign with, and whether it is new. ``current`` is keyed by host name.

    Refuses to mint a new CA while any member still holds one, and to switch CAs
    under running members (peers on different CAs cannot talk: that is a rotation,
    which is not automated).
    """
    s = cluster.settings
    first = cluster.first
    cert_path, key_path = ETCD_CA.cert_path(s.pki_dir), ETCD_CA.key_path(s.pki_dir)
    first_files = current.get(first.host, {})
    if operator_ca is not None:
        ca, source = _load_ca(*operator_ca, f"etcd_ca_cert_file={s.ca_cert_file!r}"), "operator"
    elif cert_path in first_files and key_path in first_files:
        ca = _load_ca(
            first_files[cert_path].content,
            first_files[key_path].content,
            f"{cert_path} and {key_path} on {first.host}",
        )
        source = "first"
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
        return pki.new_ca(ETCD_CA, s.key_algorithm, validity, now), True
    for host, files in current.items():
        if cert_path in files and not _same_certificate(files[cert_path].content, ca.cert):
            raise DeployInputError(
                f"host {host} trusts another etcd CA than the {source} CA: "
                "CA rotation is not automated; refusing to reissue every certificate"
            )
    return ca, False


def _same_certificate(pem: bytes, cert: x509.Certificate) -> bool:
    """The same certificate, whatever its PEM layout (CRLF, text around the block)."""
    try:
        return x509.load_pem_x509_certificate(pem) == cert
    except ValueError:
        return False


def _load_ca(cert_pem: bytes, key_pem: bytes, where: str) -> pki.KeyPair:
    try:
        ca = pki.load_pair(cert_pem, key_pem)
    except ValueError as error:
        raise DeployInputError(
            f"{where}: not a readable PEM certificate and key ({error})"
        ) from None
    problems = pki.ca_problems(ca)
    if problems:
        raise DeployInputError(f"{where}: unusable etcd CA: {'; '.join(problems)}")
    return ca


def plan_member(
    cluster: Cluster,
    member: Member,
    ca: pki.KeyPair,
    current: Mapping[str, RemoteFile],
    now: datetime.datetime,
) -> MemberPlan:
    """Keep or reissue each of the member's four certificates; ca.key on the first only."""
    s = cluster.settings
    plan = MemberPlan(member, {}, dict(current))
    plan.wanted[ETCD_CA.cert_path(s.pki_dir)] = Wanted(ca.cert_pem, CERT_MODE)
    if member is cluster.first:
        plan.wanted[ETCD_CA.key_path(s.pki_dir)] = Wanted(ca.key_pem, KEY_MODE)
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
                pair = pki.load_pair(cert_file.content, key_file.content)
            except ValueError:
                reasons = ["certificate or key is not readable PEM"]
            else:
                reasons = pki.leaf_problems(
                    spec, pair, ca.cert, common_name, sans, s.key_algorithm, renew_after, now
                )
        if reasons:
            validity = datetime.timedelta(hours=s.cert_validity_hours)
            pair = pki.new_leaf(spec, ca, common_name, sans, s.key_algorithm, validity, now)
            plan.reissued[spec.name] = reasons
            cert_pem, key_pem = pair.cert_pem, pair.key_pem
        else:
            assert cert_file is not None and key_file is not None
            cert_pem, key_pem = cert_file.content, key_file.content
        plan.wanted[cert_path] = Wanted(cert_pem, CERT_MODE)
        plan.wanted[key_path] = Wanted(key_pem, KEY_MODE)
    return plan


def control_plane_files(cluster: Cluster, first_plan: MemberPlan) -> dict[str, Wanted]:
    """What the HA guide copies to a control-plane node: ca.crt and the apiserver client pair."""
    s = cluster.settings
    paths = (
        ETCD_CA.cert_path(s.pki_dir),
        APISERVER_ETCD_CLIENT.cert_path(s.pki_dir),
        APISERVER_ETCD_CLIENT.key_path(s.pki_dir),
    )
    return {p: first_plan.wanted[p] for p in paths}
