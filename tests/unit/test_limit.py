"""``--limit``: which members a run reads, when a limited run refuses, and the CA of a run
that leaves the first member out (it checks certificates, and refuses to sign one)."""

from __future__ import annotations

import datetime

import pytest
from pyinfra.api import Config, Inventory, State

from etcd_cluster.certs.plan import plan_member, trusted_ca
from etcd_cluster.controlplane.hosts import any_in_limit, control_plane_hosts
from etcd_cluster.engine.limit import limit_refusals, members_inside, signing_refusal
from etcd_cluster.engine.plan import etcd_hosts
from etcd_cluster.errors import DeployInputError
from etcd_cluster.membership.changes import MembershipPlan
from tests.unit.test_membership import THREE, inventory, live_member, plan, view_of
from tests.unit.test_pki_plan import CA_CRT, H0, H1, H2, as_current, edited_host, plan_with

LIVE = [live_member(n) for n in THREE]


@pytest.fixture(scope="module")
def converged(ec_cluster, ca, now):
    """Every member's files as a full run left them, signed by ``ca``."""
    return {
        m.host: as_current(plan_with(ec_cluster, m, ca, {}, now).wanted) for m in ec_cluster.members
    }


def test_without_limit_every_member_is_inside_and_nothing_refuses(make_cluster):
    cluster = inventory(make_cluster, *THREE)
    inside = [m.host for m in members_inside(cluster, lambda host: True)]
    assert inside == [m.host for m in cluster.members]
    assert limit_refusals(cluster, inside, None, MembershipPlan()) == []  # a first bootstrap


def test_one_member_inside_a_running_cluster_goes_on(make_cluster):
    cluster = inventory(make_cluster, *THREE)
    inside = [m.host for m in members_inside(cluster, lambda host: host == "10.0.0.7")]
    assert inside == ["10.0.0.7"]
    assert limit_refusals(cluster, inside, view_of(cluster, LIVE), MembershipPlan()) == []


def test_a_limited_run_without_a_live_member_list_refuses(make_cluster):
    cluster = inventory(make_cluster, *THREE)
    (refusal,) = limit_refusals(cluster, ["10.0.0.7"], None, MembershipPlan())
    assert "--limit leaves out 10.0.0.6, 10.0.0.8" in refusal
    assert "run without --limit" in refusal


def test_a_member_left_out_that_never_started_refuses_naming_it(make_cluster):
    cluster = inventory(make_cluster, *THREE)
    live = [live_member("infra0"), live_member("infra1"), live_member("infra2", started=False)]
    (refusal,) = limit_refusals(cluster, ["10.0.0.6"], view_of(cluster, live), MembershipPlan())
    assert refusal.startswith("host 10.0.0.8 (infra2) is left out by --limit")


def test_a_membership_change_needs_every_member(make_cluster):
    cluster = inventory(make_cluster, *THREE)
    growing = plan(make_cluster, [*THREE, "infra3"], LIVE, has_data={"10.0.0.9": False})
    assert growing.changes
    refusals = limit_refusals(cluster, ["10.0.0.6"], view_of(cluster, LIVE), growing)
    assert any("the member list changes (add infra3" in r for r in refusals), refusals


# --- the CA of a run that leaves the first member out ---------------------------------


def test_the_ca_of_the_members_inside_checks_certificates_without_its_key(
    ec_cluster, converged, ca, now
):
    inside = {H1: converged[H1], H2: converged[H2]}
    chosen = trusted_ca(ec_cluster, inside)
    assert chosen.cert == ca.cert and chosen.key_pem is None
    kept = plan_member(ec_cluster, ec_cluster.member(H1), chosen, converged[H1], now)
    assert kept.reissued == {} and kept.pending() == {}


def test_signing_with_the_first_member_left_out_refuses_naming_it(ec_cluster, converged, now):
    chosen = trusted_ca(ec_cluster, {H1: converged[H1]})
    # a year on, every certificate is inside the renewal window: one must be signed
    later = now + datetime.timedelta(days=365)
    with pytest.raises(DeployInputError) as refused:
        plan_member(ec_cluster, ec_cluster.member(H1), chosen, converged[H1], later)
    assert str(refused.value) == signing_refusal(ec_cluster.first)
    assert f"host {H0} (first etcd member infra0" in str(refused.value)
    assert f"add {H0} to --limit" in str(refused.value)


def test_no_ca_inside_the_limit_refuses(ec_cluster, converged):
    without = edited_host({H1: converged[H1]}, H1, {CA_CRT: None})
    with pytest.raises(DeployInputError, match=f"no member inside --limit holds {CA_CRT}"):
        trusted_ca(ec_cluster, without)


def test_members_inside_on_two_cas_refuse(ec_cluster, converged, other_ca):
    current = edited_host({H1: converged[H1], H2: converged[H2]}, H2, {CA_CRT: other_ca.cert_pem})
    with pytest.raises(DeployInputError, match=f"host {H2} trusts another etcd CA than {H1}"):
        trusted_ca(ec_cluster, current)


# --- which deploys act at all: --limit to one group runs that group's steps alone --------


def limited_state(*limit: str) -> State:
    inventory = Inventory(
        (["m0", "m1", "cp0", "lb0"], {}),
        etcd=(["m0", "m1"], {}),
        control_plane=(["cp0"], {}),
        lb=(["lb0"], {}),
    )
    hosts = [inventory.get_host(name) for name in limit]
    return State(inventory, Config(), initial_limit=hosts or None)


@pytest.mark.parametrize(
    ("limit", "etcd", "control_plane"),
    [((), True, True), (("m1",), True, False), (("lb0",), False, False), (("cp0",), False, True)],
)
def test_the_etcd_and_kubeadm_steps_act_only_with_a_host_of_theirs_in_the_limit(
    limit, etcd, control_plane
):
    state = limited_state(*limit)
    assert any_in_limit(state, etcd_hosts(state)) is etcd
    assert any_in_limit(state, control_plane_hosts(state)) is control_plane
