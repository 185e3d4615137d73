"""The membership plan: the inventory against etcd's live member list (pure, no hosts).

Live views are built as the probe reports them (see test_restart_decisions), for the
guide's cluster (infra0..2 at 10.0.0.6..8) plus hosts that join or leave.
"""

from __future__ import annotations

import json

from etcd_cluster.etcd.cluster import MemberInput
from etcd_cluster.etcd.quorum import parse_view
from etcd_cluster.membership.changes import ADD, PROMOTE, REMOVE, UPDATE, plan_membership
from tests.unit.test_status import HEALTHY, status_body

ADDRESSES = {"infra0": "10.0.0.6", "infra1": "10.0.0.7", "infra2": "10.0.0.8"}
ADDRESSES |= {"infra3": "10.0.0.9", "infra4": "10.0.0.10"}


def live_member(name: str, *, learner=False, started=True, named=True) -> dict:
    address = ADDRESSES[name]
    entry: dict = {
        "ID": str(100 + list(ADDRESSES).index(name)),
        "peerURLs": [f"https://{address}:2380"],
    }
    if named:
        entry["name"] = name
    if started:
        entry["clientURLs"] = [f"https://{address}:2379"]
    if learner:
        entry["isLearner"] = True
    return entry


def view_of(cluster, live: list[dict], down=()):
    lines = []
    for entry in live:
        for url in entry.get("clientURLs", []):
            if entry.get("name") in down:
                lines.append(f"{url}\tcurl: (7) refused\tcurl: (7) refused")
            else:
                lines.append(f"{url}\t{HEALTHY}\t{status_body(entry['ID'], '100')}")
    lines.append(f"members\thttps://10.0.0.6:2379\t{json.dumps({'members': live})}")
    lines.append("alarms\thttps://10.0.0.6:2379\t{}")
    return parse_view(cluster, lines)


def inventory(make_cluster, *names):
    return make_cluster([MemberInput(ADDRESSES[n], name=n) for n in names])


def plan(make_cluster, names, live, has_data=None, remove=(), replace=(), down=()):
    cluster = inventory(make_cluster, *names)
    data = has_data if has_data is not None else {ADDRESSES[n]: True for n in names}
    return plan_membership(cluster, view_of(cluster, live, down), data, remove, replace)


def steps(result) -> list[tuple[str, str]]:
    return [(c.kind, c.name) for c in result.changes]


THREE = ["infra0", "infra1", "infra2"]


def test_an_unchanged_cluster_needs_nothing(make_cluster):
    result = plan(make_cluster, THREE, [live_member(n) for n in THREE])
    assert steps(result) == [] and result.refusals == []


def test_growing_three_to_five_adds_learners_one_at_a_time(make_cluster):
    names = [*THREE, "infra3", "infra4"]
    data = {ADDRESSES[n]: n in THREE for n in names}
    result = plan(make_cluster, names, [live_member(n) for n in THREE], has_data=data)
    assert steps(result) == [(ADD, "infra3"), (ADD, "infra4")] and result.refusals == []
    three = ",".join(f"{n}=https://{ADDRESSES[n]}:2380" for n in THREE)
    assert result.join_initial_cluster["10.0.0.9"] == f"{three},infra3=https://10.0.0.9:2380"
    assert result.join_initial_cluster["10.0.0.10"].endswith(
        "infra3=https://10.0.0.9:2380,infra4=https://10.0.0.10:2380"
    )


def test_growing_one_to_three(make_cluster):
    data = {ADDRESSES[n]: n == "infra0" for n in THREE}
    result = plan(make_cluster, THREE, [live_member("infra0")], has_data=data)
    assert steps(result) == [(ADD, "infra1"), (ADD, "infra2")]


def test_an_unnamed_removal_is_refused_naming_the_member(make_cluster):
    result = plan(make_cluster, ["infra1", "infra2"], [live_member(n) for n in THREE])
    (refusal,) = result.refusals
    assert "member infra0 is not in the inventory" in refusal and "etcd_remove_members" in refusal


def test_a_named_removal_comes_before_any_add(make_cluster):
    names = ["infra1", "infra2", "infra3"]
    data = {ADDRESSES[n]: n != "infra3" for n in names}
    live = [live_member(n) for n in THREE]
    result = plan(make_cluster, names, live, has_data=data, remove=["infra0"])
    assert steps(result) == [(REMOVE, "infra0"), (ADD, "infra3")] and result.refusals == []
    # the joiner starts with the list after the removal
    assert "infra0=" not in result.join_initial_cluster["10.0.0.9"]


def test_a_removal_that_would_lose_quorum_is_refused(make_cluster):
    live = [live_member(n) for n in THREE]
    result = plan(make_cluster, ["infra0"], live, remove=["infra1", "infra2"], down={"infra0"})
    assert any("needed for quorum" in r for r in result.refusals)
    ok = plan(make_cluster, ["infra0", "infra1"], live, remove=["infra2"], down={"infra2"})
    assert ok.refusals == [] and steps(ok) == [(REMOVE, "infra2")]


def test_a_member_whose_data_is_lost_is_refused_unless_replaced(make_cluster):
    live = [live_member(n) for n in THREE]
    data = {"10.0.0.6": True, "10.0.0.7": True, "10.0.0.8": False}
    refused = plan(make_cluster, THREE, live, has_data=data)
    assert any("infra2" in r and "etcd_replace_members" in r for r in refused.refusals)
    replaced = plan(make_cluster, THREE, live, has_data=data, replace=["infra2"])
    assert steps(replaced) == [(REMOVE, "infra2"), (ADD, "infra2")] and replaced.refusals == []


def test_replacing_while_another_member_is_down_is_refused(make_cluster):
    live = [live_member(n) for n in THREE]
    data = {"10.0.0.6": True, "10.0.0.7": True, "10.0.0.8": False}
    result = plan(make_cluster, THREE, live, has_data=data, replace=["infra2"], down={"infra1"})
    assert any("needed for quorum" in r for r in result.refusals)


def test_an_address_change_and_a_rename_are_refused_as_replacements(make_cluster):
    live = [live_member(n) for n in THREE]
    moved = inventory(make_cluster, "infra0", "infra1")
    cluster = make_cluster(
        [
            *[MemberInput(m.host, name=m.name) for m in moved.members],
            MemberInput("10.0.0.99", name="infra2"),
        ]
    )
    result = plan_membership(
        cluster, view_of(cluster, live), {m.host: True for m in cluster.members}, (), ()
    )
    assert any("address change" in r for r in result.refusals)
    renamed = make_cluster(
        [
            MemberInput("10.0.0.6", name="infra0"),
            MemberInput("10.0.0.7", name="infra1"),
            MemberInput("10.0.0.8", name="infra9"),
        ]
    )
    result = plan_membership(
        renamed, view_of(renamed, live), {m.host: True for m in renamed.members}, (), ()
    )
    assert any("named 'infra2', the inventory says 'infra9'" in r for r in result.refusals)


def test_a_learner_left_by_an_interrupted_run_is_started_or_promoted(make_cluster):
    data = {ADDRESSES[n]: n != "infra2" for n in THREE}
    pending = [live_member("infra0"), live_member("infra1")]
    pending.append(live_member("infra2", learner=True, started=False, named=False))
    result = plan(make_cluster, THREE, pending, has_data=data)
    assert steps(result) == [(ADD, "infra2")] and result.changes[0].member_id == "102"
    running = [live_member("infra0"), live_member("infra1"), live_member("infra2", learner=True)]
    result = plan(make_cluster, THREE, running)
    assert steps(result) == [(PROMOTE, "infra2")]


def test_a_host_with_stale_data_is_not_added(make_cluster):
    names = [*THREE, "infra3"]
    result = plan(make_cluster, names, [live_member(n) for n in THREE])
    assert any("10.0.0.9" in r and "move its data dir aside" in r for r in result.refusals)


def test_each_change_describes_itself_for_the_dry_run(make_cluster):
    names = ["infra1", "infra2", "infra3"]
    data = {ADDRESSES[n]: n != "infra3" for n in names}
    result = plan(
        make_cluster, names, [live_member(n) for n in THREE], has_data=data, remove=["infra0"]
    )
    assert [c.describe() for c in result.changes] == [
        "remove infra0",
        "add infra3 (10.0.0.9) as a learner, start it, promote it",
    ]


# --- peer URLs ------------------------------------------------------------------------------


def test_an_extra_peer_url_is_set_back_to_exactly_the_wanted_one(make_cluster):
    live = [live_member(n) for n in THREE]
    live[1]["peerURLs"] = ["https://10.0.0.7:2380", "https://10.0.0.66:2380"]
    result = plan(make_cluster, THREE, live)
    assert steps(result) == [] and result.refusals == []  # no add, remove, or restart
    (update,) = result.url_updates
    assert (update.kind, update.name, update.member_id) == (UPDATE, "infra1", "101")
    assert update.peer_url == "https://10.0.0.7:2380"
    assert update.listed == ("https://10.0.0.7:2380", "https://10.0.0.66:2380")
    assert "to exactly https://10.0.0.7:2380 (etcd lists" in update.describe()


def test_the_wanted_peer_url_listed_after_an_extra_one_is_still_an_update(make_cluster):
    live = [live_member(n) for n in THREE]
    live[2]["peerURLs"] = ["https://10.0.0.66:2380", "https://10.0.0.8:2380"]
    (update,) = plan(make_cluster, THREE, live).url_updates
    assert update.name == "infra2"


def test_a_wanted_peer_url_that_is_gone_is_an_address_change_not_an_update(make_cluster):
    live = [live_member(n) for n in THREE]
    live[1]["peerURLs"] = ["https://10.0.0.66:2380"]
    result = plan(make_cluster, THREE, live)
    assert result.url_updates == []
    assert any("an address change is a replacement" in r for r in result.refusals)


def test_exactly_the_wanted_peer_urls_need_no_update(make_cluster):
    assert plan(make_cluster, THREE, [live_member(n) for n in THREE]).url_updates == []
