"""Which CA signs, and which certificates a member keeps or gets anew (``pki_plan``).

Members' files are given as ``{host: {path: RemoteFile}}`` as the deploy reads them.
Keys are ECDSA-P256 (fast) except where the key algorithm is what is tested.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import (
    APISERVER_ETCD_CLIENT,
    ETCD_CA,
    ETCD_HEALTHCHECK_CLIENT,
    ETCD_PEER,
    ETCD_SERVER,
    MEMBER_CERTS,
    CertSpec,
    files_read_by_etcd,
)
from etcd_cluster.certs.plan import (
    CertificateAuthority,
    MemberPlan,
    choose_ca,
    control_plane_files,
    member_missing_keys,
    missing_keys,
    plan_member,
)
from etcd_cluster.engine.remote import RemoteFile, Wanted
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.cluster import Cluster
from tests.unit.conftest import CA_VALIDITY, LEAF_VALIDITY
from tests.unit.guide import GUIDE_HOSTS, guide_inputs

PKI = "/etc/kubernetes/pki"
CA_CRT, CA_KEY = ETCD_CA.cert_path(PKI), ETCD_CA.key_path(PKI)
H0, H1, H2 = GUIDE_HOSTS

Files = dict[str, RemoteFile]
Current = dict[str, Files]


def crt(spec: CertSpec) -> str:
    return spec.cert_path(PKI)


def key(spec: CertSpec) -> str:
    return spec.key_path(PKI)


def key_hash(pem: bytes) -> str:
    """What a host reports for a private key: the sha256 of its public half ("" unreadable)."""
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        return ""
    return pki.public_key_sha256(private.public_key())  # type: ignore[arg-type]


def host_file(path: str, content: bytes, mode: str) -> RemoteFile:
    """A file as ``read_files`` returns it: keys by their public key's hash only."""
    if path.endswith(".key"):
        return RemoteFile(None, mode, "root", "root", key_hash(content))
    return RemoteFile(content, mode, "root", "root")


def as_current(wanted: Mapping[str, Wanted]) -> Files:
    """What a host holds once ``wanted`` was written."""
    return {
        p: RemoteFile(
            None if w.public_key_sha256 else w.content, w.mode, w.user, w.group, w.public_key_sha256
        )
        for p, w in wanted.items()
    }


def edited(files: Files, changes: Mapping[str, bytes | None]) -> Files:
    """``files`` with some contents replaced (None: the file is gone); modes kept."""
    result = dict(files)
    for path, content in changes.items():
        if content is None:
            result.pop(path, None)
        else:
            mode = result[path].mode if path in result else "600"
            result[path] = host_file(path, content, mode)
    return result


def edited_host(current: Current, host: str, changes: Mapping[str, bytes | None]) -> Current:
    return {**current, host: edited(current.get(host, {}), changes)}


def authority(ca: pki.KeyPair) -> CertificateAuthority:
    return CertificateAuthority.from_pair(ca, "the test CA")


def plan_with(cluster, member, ca: pki.KeyPair, current, now) -> MemberPlan:
    """``plan_member`` with a CA whose key is at hand."""
    return plan_member(cluster, member, authority(ca), current, now)


def never_read(holder: str) -> bytes:
    raise AssertionError("the CA key was read although nothing had to be signed")


def pem(want: Wanted) -> bytes:
    assert want.content is not None
    return want.content


def leaf_ok(spec, plan: MemberPlan, ca: pki.KeyPair, now, renew_after) -> list[str]:
    """``leaf_problems`` of a certificate the plan wrote, against its new key."""
    member = plan.member
    cert = x509.load_pem_x509_certificate(pem(plan.wanted[crt(spec)]))
    sans = pki.alt_names(spec, member.name, member.address, member.server_sans, member.peer_sans)
    cn = spec.subject_cn(member.name)
    key_sha256 = key_hash(pem(plan.wanted[key(spec)]))
    assert key_sha256 == plan.wanted[key(spec)].public_key_sha256
    return pki.leaf_problems(
        spec, cert, key_sha256, ca.cert, cn, sans, "ECDSA-P256", renew_after, now
    )


@pytest.fixture(scope="module")
def converged(ec_cluster: Cluster, ca: pki.KeyPair, now: datetime.datetime) -> Current:
    """Every member as a previous run left it: all files written, signed by ``ca``."""
    return {
        m.host: as_current(plan_with(ec_cluster, m, ca, {}, now).wanted) for m in ec_cluster.members
    }


@dataclass(frozen=True)
class Issuer:
    """Makes replacement leaves for infra0 to plant as drift."""

    ca: pki.KeyPair
    other_ca: pki.KeyPair
    cluster: Cluster
    now: datetime.datetime

    def leaf(
        self,
        spec: CertSpec,
        *,
        ca: pki.KeyPair | None = None,
        algorithm: str = "ECDSA-P256",
        validity: datetime.timedelta = LEAF_VALIDITY,
    ) -> pki.KeyPair:
        member = self.cluster.first
        sans = pki.alt_names(spec, member.name, member.address)
        cn = spec.subject_cn(member.name)
        return pki.new_leaf(spec, ca or self.ca, cn, sans, algorithm, validity, self.now)

    def pair_files(self, spec: CertSpec, pair: pki.KeyPair) -> dict[str, bytes | None]:
        return {crt(spec): pair.cert_pem, key(spec): pair.key_pem}


@pytest.fixture(scope="module")
def issuer(ca, other_ca, ec_cluster, now) -> Issuer:
    return Issuer(ca, other_ca, ec_cluster, now)


# --- choose_ca --------------------------------------------------------------------------


@pytest.mark.parametrize("current", [{}, {h: {} for h in GUIDE_HOSTS}], ids=["unread", "empty"])
def test_a_new_ca_is_made_when_no_member_has_one(ec_cluster, now, current):
    chosen, created = choose_ca(ec_cluster, current, None, now, never_read)
    assert created
    assert chosen.cert.subject.rfc4514_string() == "CN=etcd-ca"
    assert pki.key_algorithm(chosen.pair().key) == "ECDSA-P256"  # etcd_key_algorithm
    assert chosen.cert.not_valid_after_utc == now + CA_VALIDITY
    assert pki.ca_problems(chosen.cert, chosen.key_sha256) == []


def test_the_first_members_ca_is_reused(ec_cluster, converged, ca, now):
    reads: list[str] = []

    def read_key(holder: str) -> bytes:
        reads.append(f"ca.key from {holder}")
        return ca.key_pem

    chosen, created = choose_ca(ec_cluster, converged, None, now, read_key)
    assert not created
    assert chosen.cert == ca.cert and chosen.key_pem is None and reads == []
    assert chosen.pair().key_pem == ca.key_pem and chosen.pair() is chosen.pair()
    assert reads == [f"ca.key from {H0}"]  # read once, when first needed


@pytest.mark.parametrize("members_hold_it", [False, True], ids=["fresh-members", "members-agree"])
def test_the_operators_ca_is_used(ec_cluster, converged, ca, now, members_hold_it):
    current = converged if members_hold_it else {}
    chosen, created = choose_ca(ec_cluster, current, (ca.cert_pem, ca.key_pem), now, never_read)
    assert not created
    assert chosen.cert == ca.cert


def _first_lacks_key(s: Issuer, c: Current) -> Current:
    return edited_host(c, H0, {CA_KEY: None})


def _only_others_hold_a_certificate(s: Issuer, c: Current) -> Current:
    return edited_host(c, H0, {CA_CRT: None, CA_KEY: None})  # and no one holds ca.key


def _third_trusts_another_ca(s: Issuer, c: Current) -> Current:
    return edited_host(c, H2, {CA_CRT: s.other_ca.cert_pem})


def _first_ca_unreadable(s: Issuer, c: Current) -> Current:
    return edited_host(c, H0, {CA_CRT: b"-----BEGIN CERTIFICATE-----\nnot base64\n"})


def _first_ca_is_a_leaf(s: Issuer, c: Current) -> Current:
    leaf = s.leaf(ETCD_SERVER)
    return edited_host(c, H0, {CA_CRT: leaf.cert_pem, CA_KEY: leaf.key_pem})


def _first_ca_key_is_foreign(s: Issuer, c: Current) -> Current:
    return edited_host(c, H0, {CA_KEY: s.other_ca.key_pem})


def _first_ca_is_a_bundle(s: Issuer, c: Current) -> Current:
    return edited_host(c, H0, {CA_CRT: s.ca.cert_pem + s.other_ca.cert_pem + s.ca.key_pem})


@pytest.mark.parametrize(
    ("situation", "named"),
    [
        pytest.param(situation, named, id=situation.__name__.strip("_").replace("_", "-"))
        for situation, named in [
            (_first_lacks_key, [H0, CA_CRT, CA_KEY]),
            (_only_others_hold_a_certificate, [H0, f"{H1}, {H2} hold one"]),
            (_third_trusts_another_ca, [f"host {H2} trusts another etcd CA", "first"]),
            (_first_ca_unreadable, [f"{CA_CRT} and {CA_KEY} on {H0}", "not a readable PEM"]),
            (_first_ca_is_a_leaf, [f"on {H0}", "not a CA"]),
            (_first_ca_key_is_foreign, [f"on {H0}", "does not match"]),
            (
                _first_ca_is_a_bundle,
                [f"{CA_CRT} and {CA_KEY} on {H0}", "subject 'CN=etcd-ca'; 1 other PEM block"],
            ),
        ]
    ],
)
def test_choose_ca_refuses(ec_cluster, converged, issuer, now, situation, named):
    current = situation(issuer, converged)
    with pytest.raises(DeployInputError) as refused:
        choose_ca(ec_cluster, current, None, now, never_read)
    for text in named:
        assert text in str(refused.value)


@pytest.fixture(scope="module")
def operator_cluster(make_cluster, make_settings) -> Cluster:
    settings = make_settings(
        etcd_key_algorithm="ECDSA-P256",
        etcd_ca_cert_file="/srv/pki/ca.crt",
        etcd_ca_key_file="/srv/pki/ca.key",
    )
    return make_cluster(settings_=settings)


@pytest.mark.parametrize(
    ("operator_files", "named"),
    [
        (lambda s: (b"not a pem", s.ca.key_pem), ["etcd_ca_cert_file='/srv/pki/ca.crt'", "PEM"]),
        (lambda s: (s.ca.cert_pem, s.other_ca.key_pem), ["/srv/pki/ca.crt", "does not match"]),
        (lambda s: (s.other_ca.cert_pem, s.other_ca.key_pem), [f"host {H0}", "operator CA"]),
    ],
    ids=["unreadable", "mismatched-key", "members-on-another-ca"],
)
def test_choose_ca_refuses_an_unusable_operator_ca(
    operator_cluster, converged, issuer, now, operator_files, named
):
    with pytest.raises(DeployInputError) as refused:
        choose_ca(operator_cluster, converged, operator_files(issuer), now, never_read)
    for text in named:
        assert text in str(refused.value)


def test_the_same_ca_in_another_pem_layout_is_not_another_ca(ec_cluster, converged, ca, now):
    crlf = ca.cert_pem.replace(b"\n", b"\r\n")
    current = {host: edited(files, {CA_CRT: crlf}) for host, files in converged.items()}
    chosen, created = choose_ca(ec_cluster, current, None, now, never_read)
    assert chosen.cert == ca.cert and not created


def test_a_bundle_on_another_member_is_replaced_by_the_ca_alone(ec_cluster, converged, ca, now):
    bundle = ca.cert_pem + pki.new_ca(ETCD_CA, "ECDSA-P256", CA_VALIDITY, now).cert_pem
    current = edited_host(converged, H2, {CA_CRT: bundle})
    chosen, _ = choose_ca(ec_cluster, current, None, now, never_read)
    plan = plan_member(ec_cluster, ec_cluster.member(H2), chosen, current[H2], now)
    assert plan.pending()[CA_CRT].content == ca.cert_pem
    assert plan.content_changed({CA_CRT})  # etcd reads its CA at start: it restarts


def test_an_operator_ca_bundle_is_refused(operator_cluster, issuer, now):
    bundle = issuer.ca.cert_pem + issuer.other_ca.cert_pem
    with pytest.raises(DeployInputError, match="1 more certificate"):
        choose_ca(operator_cluster, {}, (bundle, issuer.ca.key_pem), now, never_read)


def test_a_lone_ca_key_on_the_first_member_is_not_overwritten(ec_cluster, ca, now):
    current = {H0: {CA_KEY: host_file(CA_KEY, ca.key_pem, "600")}}
    with pytest.raises(DeployInputError, match=re.escape(H0)):
        choose_ca(ec_cluster, current, None, now, never_read)


# --- plan_member: fresh and converged members ---------------------------------------------


def member_paths(*, with_ca_key: bool) -> set[str]:
    paths = {CA_CRT, *(p for spec in MEMBER_CERTS for p in (crt(spec), key(spec)))}
    return paths | {CA_KEY} if with_ca_key else paths


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_fresh_member_gets_every_file_and_ca_key_only_if_first(ec_cluster, ca, now, index):
    member = ec_cluster.members[index]
    plan = plan_with(ec_cluster, member, ca, {}, now)
    assert set(plan.wanted) == member_paths(with_ca_key=index == 0)
    assert plan.pending() == plan.wanted
    assert plan.content_changed()
    assert set(plan.reissued) == {spec.name for spec in MEMBER_CERTS}
    assert all("is missing" in reasons[0] for reasons in plan.reissued.values())
    for path, want in plan.wanted.items():
        assert (want.mode, want.user, want.group) == (
            ("600" if path.endswith(".key") else "644"),
            "root",
            "root",
        )


@pytest.mark.parametrize("spec", MEMBER_CERTS, ids=lambda s: s.name)
def test_fresh_certificates_are_signed_by_the_ca_and_pass_the_check(ec_cluster, ca, now, spec):
    member = ec_cluster.members[1]
    plan = plan_with(ec_cluster, member, ca, {}, now)
    assert leaf_ok(spec, plan, ca, None, now + datetime.timedelta(days=30)) == []
    assert plan.wanted[CA_CRT].content == ca.cert_pem


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_converged_member_keeps_every_file_byte_for_byte(ec_cluster, converged, ca, now, index):
    member = ec_cluster.members[index]
    current = converged[member.host]
    plan = plan_with(ec_cluster, member, ca, current, now)
    assert plan.reissued == {}
    assert plan.pending() == {}
    assert not plan.content_changed()
    # certificates byte for byte, keys by their public half (their content is never read)
    assert {p: w.public_key_sha256 or w.content for p, w in plan.wanted.items()} == {
        p: f.public_key_sha256 or f.content for p, f in current.items()
    }


# --- plan_member: drift reissues exactly the affected certificate --------------------------


@dataclass(frozen=True)
class Drift:
    """A change to infra0's files and the one certificate it must make the plan reissue."""

    change: Callable[[Issuer], dict[str, bytes | None]]
    reissued: CertSpec
    reason: str
    restarts_etcd: bool  # etcd itself reads the certificate (server, peer)


DRIFTS = {
    "missing-cert": Drift(
        lambda s: {crt(ETCD_SERVER): None}, ETCD_SERVER, "server.crt is missing", True
    ),
    "missing-key": Drift(lambda s: {key(ETCD_PEER): None}, ETCD_PEER, "peer.key is missing", True),
    "foreign-key": Drift(
        lambda s: {key(ETCD_HEALTHCHECK_CLIENT): s.leaf(ETCD_HEALTHCHECK_CLIENT).key_pem},
        ETCD_HEALTHCHECK_CLIENT,
        "private key does not match",
        False,
    ),
    "unreadable-cert": Drift(
        lambda s: {crt(ETCD_SERVER): b"garbage"}, ETCD_SERVER, "not readable PEM", True
    ),
    "signed-by-another-ca": Drift(
        lambda s: s.pair_files(APISERVER_ETCD_CLIENT, s.leaf(APISERVER_ETCD_CLIENT, ca=s.other_ca)),
        APISERVER_ETCD_CLIENT,
        "not signed by the current etcd CA",
        False,
    ),
    "expiring-in-renewal-window": Drift(
        lambda s: s.pair_files(
            ETCD_SERVER, s.leaf(ETCD_SERVER, validity=datetime.timedelta(days=10))
        ),
        ETCD_SERVER,
        "inside the renewal window",
        True,
    ),
    "wrong-key-algorithm": Drift(
        lambda s: s.pair_files(ETCD_PEER, s.leaf(ETCD_PEER, algorithm="RSA-2048")),
        ETCD_PEER,
        "key is RSA-2048, expected ECDSA-P256",
        True,
    ),
}


def assert_only_reissued(
    plan: MemberPlan, before: Files, specs: set[CertSpec], ca: pki.KeyPair, now
) -> None:
    """``specs`` were reissued (valid now); every other file is kept byte for byte."""
    assert set(plan.reissued) == {spec.name for spec in specs}
    changed = {p for spec in specs for p in (crt(spec), key(spec))}
    assert set(plan.pending()) == changed
    assert plan.content_changed()
    for path, want in plan.wanted.items():
        if path not in changed:
            kept = before[path]
            assert (want.public_key_sha256 or want.content) == (
                kept.public_key_sha256 or kept.content
            ), path
    for spec in specs:
        assert leaf_ok(spec, plan, ca, None, now) == []


@pytest.mark.parametrize("drift", DRIFTS.values(), ids=DRIFTS.keys())
def test_drift_reissues_exactly_that_certificate_with_a_reason(
    ec_cluster, converged, issuer, ca, now, drift
):
    current = edited(converged[H0], drift.change(issuer))
    plan = plan_with(ec_cluster, ec_cluster.first, ca, current, now)
    assert any(drift.reason in reason for reason in plan.reissued.get(drift.reissued.name, []))
    assert_only_reissued(plan, converged[H0], {drift.reissued}, ca, now)
    assert plan.content_changed(files_read_by_etcd(PKI)) is drift.restarts_etcd


def test_etcd_reads_its_ca_and_the_server_and_peer_pairs_only():
    assert files_read_by_etcd(PKI) == {
        CA_CRT,
        crt(ETCD_SERVER),
        key(ETCD_SERVER),
        crt(ETCD_PEER),
        key(ETCD_PEER),
    }


def test_an_added_server_san_reissues_only_the_server_certificate(
    make_cluster, ec_settings, converged, ca, now
):
    cluster = make_cluster(guide_inputs(server_sans=[["etcd0.example.com"], [], []]), ec_settings)
    plan = plan_with(cluster, cluster.first, ca, converged[H0], now)
    assert plan.reissued[ETCD_SERVER.name] == ["subject alternative names differ"]
    assert_only_reissued(plan, converged[H0], {ETCD_SERVER}, ca, now)
    sans = x509.load_pem_x509_certificate(pem(plan.wanted[crt(ETCD_SERVER)])).extensions
    dns = sans.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "etcd0.example.com" in dns.get_values_for_type(x509.DNSName)


def test_a_renamed_member_gets_new_server_and_peer_certificates_only(
    make_cluster, ec_settings, converged, ca, now
):
    cluster = make_cluster(guide_inputs(name=["etcd-a", "etcd-b", "etcd-c"]), ec_settings)
    plan = plan_with(cluster, cluster.first, ca, converged[H0], now)
    assert "subject is CN=infra0, expected CN=etcd-a" in plan.reissued[ETCD_SERVER.name]
    assert_only_reissued(plan, converged[H0], {ETCD_SERVER, ETCD_PEER}, ca, now)


@pytest.mark.parametrize(
    ("file_change", "spec_path"),
    [
        ({"mode": "644"}, key(ETCD_SERVER)),
        ({"user": "etcd"}, crt(ETCD_PEER)),
        ({"group": "etcd"}, CA_KEY),
    ],
    ids=["mode", "user", "group"],
)
def test_metadata_drift_is_pending_but_no_content_change(
    ec_cluster, converged, ca, now, file_change, spec_path
):
    original = converged[H0][spec_path]
    drifted = replace(original, **file_change)
    plan = plan_with(ec_cluster, ec_cluster.first, ca, {**converged[H0], spec_path: drifted}, now)
    assert plan.reissued == {}
    assert list(plan.pending()) == [spec_path]
    assert not plan.content_changed()
    assert not plan.content_changed(files_read_by_etcd(PKI))


@pytest.mark.parametrize(
    ("validity", "reissued"),
    [(datetime.timedelta(days=30), True), (datetime.timedelta(days=30, hours=1), False)],
    ids=["expires-at-window-edge", "expires-just-after-window"],
)
def test_renewal_window_edge(ec_cluster, converged, issuer, ca, now, validity, reissued):
    pair = issuer.leaf(ETCD_SERVER, validity=validity)
    current = edited(converged[H0], issuer.pair_files(ETCD_SERVER, pair))
    plan = plan_with(ec_cluster, ec_cluster.first, ca, current, now)
    assert (ETCD_SERVER.name in plan.reissued) is reissued


def test_a_renewal_window_longer_than_the_validity_is_refused_or_converges(
    make_settings, make_cluster, ca, now
):
    try:
        settings = make_settings(etcd_key_algorithm="ECDSA-P256", etcd_cert_validity_hours=240)
    except DeployInputError as refused:  # refusing up front is a fix
        assert "etcd_renew_before_days" in str(refused)
        return
    cluster = make_cluster(settings_=settings)
    first_run = plan_with(cluster, cluster.first, ca, {}, now)
    second_run = plan_with(cluster, cluster.first, ca, as_current(first_run.wanted), now)
    assert second_run.reissued == {}


# --- earliest_expiry and the control-plane hand-off -----------------------------------------


def test_earliest_expiry_of_a_fresh_member_is_the_leaf_validity(ec_cluster, ca, now):
    plan = plan_with(ec_cluster, ec_cluster.members[2], ca, {}, now)
    assert plan.earliest_expiry() == now + LEAF_VALIDITY


def test_earliest_expiry_is_the_soonest_kept_certificate(
    make_settings, make_cluster, converged, issuer, ca, now
):
    settings = make_settings(etcd_key_algorithm="ECDSA-P256", etcd_renew_before_days=0)
    cluster = make_cluster(settings_=settings)
    short = issuer.leaf(ETCD_PEER, validity=datetime.timedelta(hours=100))
    current = edited(converged[H0], issuer.pair_files(ETCD_PEER, short))
    plan = plan_with(cluster, cluster.first, ca, current, now)
    assert plan.reissued == {}
    assert plan.earliest_expiry() == now + datetime.timedelta(hours=100)


def test_control_plane_gets_ca_crt_and_the_apiserver_client_pair_only(ec_cluster, ca, now):
    first_plan = plan_with(ec_cluster, ec_cluster.first, ca, {}, now)
    files = control_plane_files(ec_cluster, first_plan)
    client_key = first_plan.wanted[key(APISERVER_ETCD_CLIENT)]
    assert files == {
        CA_CRT: first_plan.wanted[CA_CRT],
        crt(APISERVER_ETCD_CLIENT): first_plan.wanted[crt(APISERVER_ETCD_CLIENT)],
        key(APISERVER_ETCD_CLIENT): replace(client_key, source=key(APISERVER_ETCD_CLIENT)),
    }
    assert [w.mode for w in files.values()] == ["644", "644", "600"]


def test_the_ca_key_is_read_only_when_a_certificate_must_be_signed(ec_cluster, converged, ca, now):
    reads: list[str] = []

    def read_key(holder: str) -> bytes:
        reads.append(f"ca.key from {holder}")
        return ca.key_pem

    chosen, _ = choose_ca(ec_cluster, converged, None, now, read_key)
    for member in ec_cluster.members:
        plan_member(ec_cluster, member, chosen, converged[member.host], now)
    assert reads == []
    drifted = edited(converged[H1], {crt(ETCD_SERVER): None})
    plan = plan_member(ec_cluster, ec_cluster.members[1], chosen, drifted, now)
    plan_member(
        ec_cluster,
        ec_cluster.members[2],
        chosen,
        edited(converged[H2], {key(ETCD_PEER): None}),
        now,
    )
    assert reads == [f"ca.key from {H0}"]
    assert leaf_ok(ETCD_SERVER, plan, ca, now, now) == []
    # the first member keeps its ca.key: only its mode and owner are ever fixed
    first = plan_member(ec_cluster, ec_cluster.first, chosen, converged[H0], now)
    assert first.wanted[CA_KEY].content is None
    assert first.wanted[CA_KEY].public_key_sha256 == key_hash(ca.key_pem)


def test_a_key_that_is_not_readable_is_reissued(ec_cluster, converged, ca, now):
    current = edited(converged[H0], {key(ETCD_SERVER): b"not a key"})
    plan = plan_with(ec_cluster, ec_cluster.first, ca, current, now)
    assert plan.reissued[ETCD_SERVER.name] == ["private key is not readable"]


@pytest.mark.parametrize("new_first", ["fresh-host", "former-member", "old-first-retired"])
def test_a_new_first_member_gets_the_ca_key_from_the_host_that_holds_it(
    ec_cluster, converged, ca, now, new_first
):
    # The inventory's first host is new (or was a member without ca.key); the old first
    # one is second now, or retired (group etcd_removed) by a run that failed before the
    # move finished: its ca.key is then the only copy.
    first_files = {} if new_first == "fresh-host" else converged[H1]
    holder = "old-first.example.net" if new_first == "old-first-retired" else H1
    current = {H0: first_files, holder: converged[H0], H2: converged[H2]}
    reads: list[str] = []

    def read_key(holder: str) -> bytes:
        reads.append(holder)
        return ca.key_pem

    chosen, created = choose_ca(ec_cluster, current, None, now, read_key)
    assert not created and chosen.cert == ca.cert and not chosen.on_first_member
    first = plan_member(ec_cluster, ec_cluster.first, chosen, {}, now)
    assert first.wanted[CA_KEY].content == ca.key_pem  # it moves: read to be copied
    assert reads == [holder]


# --- missing_keys: the keys made ahead ------------------------------------------------------


def test_missing_keys_counts_every_pair_a_fresh_cluster_needs_and_the_new_ca(ec_cluster):
    fresh: Current = {m.host: {} for m in ec_cluster.members}
    assert missing_keys(ec_cluster, fresh, new_ca=True) == 1 + 4 * len(fresh)
    assert missing_keys(ec_cluster, fresh, new_ca=False) == 4 * len(fresh)
    assert member_missing_keys(ec_cluster, {}) == 4  # asked for as each survey answers


def test_missing_keys_counts_none_on_a_converged_cluster_and_one_per_lost_pair(
    ec_cluster, converged, ca, now
):
    assert missing_keys(ec_cluster, converged, new_ca=False) == 0
    lost = edited_host(converged, H1, {key(ETCD_PEER): None, crt(ETCD_SERVER): None})
    # a pair missing its certificate or its key is made anew, with a new key
    assert missing_keys(ec_cluster, lost, new_ca=False) == 2
    plan = plan_with(ec_cluster, ec_cluster.member(H1), ca, lost[H1], now)
    assert set(plan.reissued) == {ETCD_PEER.name, ETCD_SERVER.name}
