"""The etcd certificates, declared once as data (after kubeadm's ``certlist.go``).

This one table drives generation (``pki``), verification and reissue decisions
(``pki_plan``), the guide's expected-files check (``expected_files``) and the
status table's earliest expiry. Names, base names, common names and usages are
kubeadm's (``certlist.go`` and ``constants.go`` in kubernetes/kubernetes).
"""

from __future__ import annotations

import enum
import posixpath
from dataclasses import dataclass

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

CERT_MODE = "644"
KEY_MODE = "600"


class SanRule(enum.Enum):
    """Which subject alternative names a certificate carries."""

    NONE = "none"  # client certificates
    CA = "ca"  # DNS:<common name>, as kubeadm's NewSelfSignedCACert
    SERVER = "server"  # member name, localhost, member address, loopbacks + server SANs
    PEER = "peer"  # same base as SERVER + peer SANs


@dataclass(frozen=True)
class CertSpec:
    """One certificate/key pair as kubeadm declares it."""

    name: str  # kubeadm's phase name, e.g. "etcd-server"
    base_name: str  # file stem under the certificates dir, e.g. "etcd/server"
    common_name: str | None  # None: the member's name (kubeadm's setCommonNameToNodeName)
    usages: tuple[ObjectIdentifier, ...]
    san_rule: SanRule
    is_ca: bool = False
    read_by_etcd: bool = True  # a change means the running member must restart

    def cert_path(self, pki_dir: str) -> str:
        return posixpath.join(pki_dir, f"{self.base_name}.crt")

    def key_path(self, pki_dir: str) -> str:
        return posixpath.join(pki_dir, f"{self.base_name}.key")

    def subject_cn(self, member_name: str) -> str:
        return self.common_name if self.common_name is not None else member_name


_SERVER_AND_CLIENT = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
_CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)

ETCD_CA = CertSpec("etcd-ca", "etcd/ca", "etcd-ca", (), SanRule.CA, is_ca=True)
ETCD_SERVER = CertSpec("etcd-server", "etcd/server", None, _SERVER_AND_CLIENT, SanRule.SERVER)
ETCD_PEER = CertSpec("etcd-peer", "etcd/peer", None, _SERVER_AND_CLIENT, SanRule.PEER)
ETCD_HEALTHCHECK_CLIENT = CertSpec(
    "etcd-healthcheck-client",
    "etcd/healthcheck-client",
    "kube-etcd-healthcheck-client",
    _CLIENT,
    SanRule.NONE,
    read_by_etcd=False,
)
APISERVER_ETCD_CLIENT = CertSpec(
    "apiserver-etcd-client",
    "apiserver-etcd-client",
    "kube-apiserver-etcd-client",
    _CLIENT,
    SanRule.NONE,
    read_by_etcd=False,
)

MEMBER_CERTS: tuple[CertSpec, ...] = (
    ETCD_SERVER,
    ETCD_PEER,
    ETCD_HEALTHCHECK_CLIENT,
    APISERVER_ETCD_CLIENT,
)
ALL_CERTS: tuple[CertSpec, ...] = (ETCD_CA, *MEMBER_CERTS)


@dataclass(frozen=True)
class ExpectedFile:
    """A file the guide's step 6 lists for a member."""

    path: str
    mode: str
    secret: bool


def key_paths(pki_dir: str) -> list[str]:
    """Every private key of the table, in table order."""
    return [spec.key_path(pki_dir) for spec in ALL_CERTS]


def files_read_by_etcd(pki_dir: str) -> set[str]:
    """The certificate files etcd itself loads (its CA, server and peer pairs)."""
    paths = {ETCD_CA.cert_path(pki_dir)}
    for spec in MEMBER_CERTS:
        if spec.read_by_etcd:
            paths |= {spec.cert_path(pki_dir), spec.key_path(pki_dir)}
    return paths


def expected_files(pki_dir: str, *, is_first: bool) -> list[ExpectedFile]:
    """The guide's per-host file list: ``ca.key`` on the first member only."""
    files = [ExpectedFile(ETCD_CA.cert_path(pki_dir), CERT_MODE, secret=False)]
    if is_first:
        files.append(ExpectedFile(ETCD_CA.key_path(pki_dir), KEY_MODE, secret=True))
    for spec in MEMBER_CERTS:
        files.append(ExpectedFile(spec.cert_path(pki_dir), CERT_MODE, secret=False))
        files.append(ExpectedFile(spec.key_path(pki_dir), KEY_MODE, secret=True))
    return sorted(files, key=lambda f: f.path)
