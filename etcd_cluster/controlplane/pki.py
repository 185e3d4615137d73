"""The shared Kubernetes CAs: made in memory, checked, and which host needs which file.

Pure functions: the glue that reads hosts and writes files is ``kubernetes_pki_plan``.
A pair is generated only when no control-plane host holds either of its files; a
pair that hosts hold is kept byte for byte and copied to the hosts that lack it.
Hosts holding different contents for one file are refused (CA rotation is not
automated), as is half a pair.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from etcd_cluster.certs import pki
from etcd_cluster.controlplane.certlist import SharedPair
from etcd_cluster.errors import DeployInputError

OWNER = "root root"


def new_pair(
    pair: SharedPair, algorithm: str, validity: datetime.timedelta, now: datetime.datetime
) -> dict[str, bytes]:
    """A fresh CA (kubeadm's NewSelfSignedCACert profile) or service-account key pair."""
    if pair.ca is not None:
        made = pki.new_ca(pair.ca, algorithm, validity, now)
        return {pair.public_path: made.cert_pem, pair.private_path: made.key_pem}
    key = pki.generate_key(algorithm)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(  # PKCS#1 / SEC1, as kubeadm's MarshalPrivateKeyToPEM
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return {pair.public_path: public, pair.private_path: private}


def pair_problems(pair: SharedPair, content: Mapping[str, bytes]) -> list[str]:
    """Why a pair read from a host cannot be shared (empty when it can)."""
    public, private = content[pair.public_path], content[pair.private_path]
    try:
        if pair.ca is not None:
            loaded_pair = pki.load_pair(public, private)
            key_hash = pki.public_key_sha256(loaded_pair.key.public_key())
            return [f"{pair.name}: {p}" for p in pki.ca_problems(loaded_pair.cert, key_hash)]
        key = serialization.load_pem_private_key(private, password=None)
        loaded = serialization.load_pem_public_key(public)
    except ValueError as error:
        return [f"{pair.name}: unreadable ({error})"]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != loaded.public_bytes(der, spki):
        return [f"{pair.name}: sa.pub is not the public half of sa.key"]
    return []


def ca_cert_hash(ca_cert_pem: bytes) -> str:
    """kubeadm's discovery hash: sha256 of the CA's SubjectPublicKeyInfo (DER)."""
    spki = (
        x509.load_pem_x509_certificate(ca_cert_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class Decision:
    """Which pairs to make, where to read the others, and what each host lacks."""

    generate: list[SharedPair] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)  # pair name -> host to read it from
    reference: dict[str, str] = field(default_factory=dict)  # path -> sha256 hosts must hold
    pending: dict[str, list[str]] = field(default_factory=dict)  # host -> paths to write


def decide(
    pairs: Sequence[SharedPair],
    modes: Mapping[str, str],
    held: Mapping[str, Mapping[str, str]],
) -> Decision:
    """``held``: host -> {path: "mode user group sha256"} of the files it has, in host order."""
    decision = Decision()
    for pair in pairs:
        holders = {path: [h for h in held if path in held[h]] for path in pair.paths}
        if not any(holders.values()):
            decision.generate.append(pair)
            continue
        for path, hosts in holders.items():
            if not hosts:
                other = next(p for p in pair.paths if p != path)
                raise DeployInputError(
                    f"{path} is on no control-plane host but {other} is on "
                    f"{', '.join(holders[other])}: restore it or remove both to have new ones made"
                )
            digests = {held[h][path].rsplit(" ", 1)[1] for h in hosts}
            if len(digests) > 1:
                raise DeployInputError(
                    f"control-plane hosts {', '.join(hosts)} hold different {path}: "
                    "they must share one (CA rotation is not automated by this deploy)"
                )
            decision.reference[path] = digests.pop()
        both = [h for h in held if all(p in held[h] for p in pair.paths)]
        if not both:
            raise DeployInputError(
                f"no control-plane host holds both {pair.public_path} and {pair.private_path}"
            )
        decision.source[pair.name] = both[0]
    for host, files in held.items():
        pending = [
            path
            for pair in pairs
            if pair.name in decision.source
            for path in pair.paths
            if files.get(path) != f"{modes[path]} {OWNER} {decision.reference[path]}"
        ]
        pending += [path for pair in decision.generate for path in pair.paths]
        if pending:
            decision.pending[host] = pending
    return decision
