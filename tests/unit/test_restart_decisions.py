"""Which members restart, how, in which pass, and whether quorum allows it: pure decisions.

Observations and cluster views are built by hand, as ``observe`` and ``probe_script``
would report them, so every rule is checked without hosts.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from etcd_cluster.engine.observe import NOTHING_SHA256, Observation, parse_observation
from etcd_cluster.etcd.quorum import gate, parse_view, restart_refusals, unstarted_peer_urls
from etcd_cluster.etcd.restarts import (
    BOUNCE,
    PASSES,
    RENDER,
    RESTART,
    REWRITE,
    flag_differences,
    in_pass,
    manifest_drift,
    static_pod_decision,
    systemd_decision,
)
from tests.unit.test_status import HEALTHY, status_body

WANTED = (
    "/usr/bin/etcd",
    "--name=infra0",
    "--initial-cluster=infra0=https://10.0.0.6:2380,infra1=https://10.0.0.7:2380",
    "--initial-cluster-state=new",
    "--snapshot-count=10000",
)
CERT = "a" * 64


def running(args=WANTED, **fields) -> Observation:
    defaults = {"started_at": 1000.0, "ca_mtime": 900.0, "file_server": CERT, "file_peer": CERT}
    return Observation(args=tuple(args), **{**defaults, **fields})


# --- flags ---------------------------------------------------------------------------------


def test_flag_differences_name_each_flag_and_ignore_order():
    assert flag_differences(WANTED[1:], tuple(reversed(WANTED[1:])), has_data=False) == []
    changed = [*WANTED[1:4], "--snapshot-count=5000", "--quota-backend-bytes=8589934592"]
    assert flag_differences(changed, [*WANTED[1:], "--heartbeat-interval=150"], False) == [
        "--heartbeat-interval=150 is missing",
        "--quota-backend-bytes=8589934592 is not wanted",
        "--snapshot-count=5000 should be 10000",
    ]


def test_bootstrap_only_flags_count_only_before_the_member_has_data():
    reordered = ["--initial-cluster=infra1=https://10.0.0.7:2380,infra0=https://10.0.0.6:2380"]
    running_args = [WANTED[1], *reordered, *WANTED[3:]]
    assert flag_differences(running_args, WANTED[1:], has_data=True) == []
    assert flag_differences(running_args, WANTED[1:], has_data=False) != []


# --- systemd -------------------------------------------------------------------------------


def test_a_member_running_what_it_should_stays():
    assert systemd_decision(running(), WANTED, has_data=True).action == ""


def test_a_member_that_is_not_running_is_started_not_restarted():
    assert systemd_decision(Observation(), WANTED, has_data=True).action == ""


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (running([*WANTED[:4], "--snapshot-count=5000"]), "runs with other flags: --snapshot"),
        (running(["/usr/local/bin/etcd", *WANTED[1:]]), "runs /usr/local/bin/etcd"),
        (running(binary_replaced=True), "binary was replaced"),
        (running(ca_mtime=1000.5), "ca.crt changed after etcd started"),
        (running(served_client="b" * 64), "older certificate on its client port"),
        (running(served_peer="b" * 64), "older certificate on its peer port"),
    ],
    ids=["flags", "binary-path", "binary-replaced", "ca-newer", "client-cert", "peer-cert"],
)
def test_systemd_restarts_for_each_observed_difference(observation, reason):
    decision = systemd_decision(observation, WANTED, has_data=True)
    assert decision.action == RESTART
    assert any(reason in text for text in decision.reasons), decision.reasons


def test_a_renewed_certificate_already_served_needs_no_restart():
    renewed = running(file_server="c" * 64, served_client="c" * 64, served_peer=CERT)
    assert systemd_decision(renewed, WANTED, has_data=True).action == ""


# --- static-pod ------------------------------------------------------------------------------

EXTRA = [("name", "infra0"), ("initial-cluster", "infra0=https://10.0.0.6:2380")]
MANIFEST = ("etcd", "--name=infra0", "--initial-cluster=infra0=https://10.0.0.6:2380")


def pod(args=MANIFEST, manifest=MANIFEST, image="registry.k8s.io/etcd:3.6.9-0", **fields):
    return running(args, manifest_args=tuple(manifest), manifest_image=image, **fields)


def test_static_pod_in_step_does_nothing():
    assert static_pod_decision(pod(), EXTRA, "registry.k8s.io/etcd:3.6.9-0", True).action == ""


def test_a_manifest_missing_a_config_flag_is_rendered_by_kubeadm():
    decision = static_pod_decision(pod(), [*EXTRA, ("heartbeat-interval", "150")], "", True)
    assert decision.action == RENDER  # the container runs the manifest: a new one replaces it
    assert "lacks --heartbeat-interval=150" in decision.reasons[0]
    old_container = pod(args=("etcd", "--name=infra0"))
    decision = static_pod_decision(old_container, [*EXTRA, ("heartbeat-interval", "150")], "", True)
    assert decision.action == REWRITE  # kubeadm may write the same manifest: then a bounce


def test_a_pinned_image_the_manifest_does_not_run_is_rendered():
    decision = static_pod_decision(pod(), EXTRA, "registry.k8s.io/etcd:3.6.10-0", True)
    assert decision.action == RENDER


def test_bootstrap_flags_of_a_member_with_data_do_not_rewrite_the_manifest():
    other = [("name", "infra0"), ("initial-cluster", "infra0=https://10.0.0.6:2380,x=y")]
    assert static_pod_decision(pod(), other, "", has_data=True).action == ""
    assert static_pod_decision(pod(), other, "", has_data=False).action == RENDER


CONFIG = "c" * 64
LIVE = "e" * 64


def recorded(manifest=LIVE, config=CONFIG, **fields) -> Observation:
    """A pod whose manifest (sha256 ``LIVE``) kubeadm rendered as the record says."""
    return pod(
        manifest_sha256=LIVE,
        rendered_manifest_sha256=manifest,
        rendered_config_sha256=config,
        **fields,
    )


def test_a_manifest_kubeadm_rendered_from_the_wanted_config_stays():
    assert manifest_drift(recorded(), CONFIG) == []
    assert static_pod_decision(recorded(), EXTRA, "", True, CONFIG).action == ""


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (recorded(manifest="f" * 64), "not the one kubeadm rendered"),
        (recorded(config="d" * 64), "from another kubeadm config"),
        (recorded(manifest="", config=""), "no record of what kubeadm rendered"),
    ],
    ids=["edited", "config-changed", "no-record"],
)
def test_a_manifest_that_is_not_kubeadms_for_the_wanted_config_is_rendered_again(
    observation, reason
):
    """An edit dropping --client-cert-auth, a flag removed from etcd_extra_args, another
    image or volume: the presence checks cannot see them, the whole-file comparison does."""
    decision = static_pod_decision(observation, EXTRA, "", True, CONFIG)
    assert decision.action == RENDER
    assert reason in decision.reasons[0]
    bounced = replace(observation, args=("etcd", "--name=infra0", "--client-cert-auth=false"))
    assert static_pod_decision(bounced, EXTRA, "", True, CONFIG).action == REWRITE


def test_a_drifted_manifest_of_a_stopped_pod_is_rendered_and_kubelet_starts_it():
    decision = static_pod_decision(recorded(manifest="f" * 64, args=()), EXTRA, "", True, CONFIG)
    assert decision.action == RENDER


def test_a_manifest_without_an_etcd_container_is_still_compared():
    broken = Observation(manifest_sha256=LIVE, rendered_manifest_sha256="f" * 64)
    assert static_pod_decision(broken, EXTRA, "", True, CONFIG).action == RENDER


@pytest.mark.parametrize(
    "observation",
    [
        pod(args=("etcd", "--name=infra0")),
        pod(ca_mtime=2000.0),
        pod(served_peer="d" * 64),
    ],
    ids=["old-container", "ca-newer", "stale-peer-cert"],
)
def test_a_container_that_does_not_run_the_manifest_is_bounced(observation):
    assert static_pod_decision(observation, EXTRA, "", True).action == BOUNCE


def test_no_running_container_waits_for_kubelet_and_no_manifest_for_the_first_start():
    assert static_pod_decision(pod(args=()), EXTRA, "", True).action == ""
    assert static_pod_decision(Observation(), EXTRA, "", True).action == ""


def test_an_unreachable_container_runtime_is_an_error_not_a_guess():
    broken = pod(runtime_error="connect: no such file or directory")
    decision = static_pod_decision(broken, EXTRA, "", True)
    assert decision.action == "error" and "crictl cannot reach" in decision.reasons[0]


# --- passes --------------------------------------------------------------------------------


def test_passes_take_failing_members_first_then_followers_then_the_leader(cluster):
    view = parse_view(cluster, probe(cluster, down={"infra2"}))
    leader, follower, failing = view.statuses
    assert PASSES == ("unhealthy", "followers", "leader")
    assert [in_pass(p, failing) for p in PASSES] == [True, False, True]
    assert [in_pass(p, follower) for p in PASSES] == [False, True, True]
    assert [in_pass(p, leader) for p in PASSES] == [False, False, True]


# --- the quorum gate -----------------------------------------------------------------------

IDS = {"infra0": "11", "infra1": "22", "infra2": "33"}


def member_list(cluster, *, learners=(), unstarted=(), extra=()) -> str:
    members = [
        {
            "ID": IDS[m.name],
            "name": "" if m.name in unstarted else m.name,
            "peerURLs": [m.peer_url(2380)],
            **({} if m.name in unstarted else {"clientURLs": [m.client_url(2379)]}),
            **({"isLearner": True} if m.name in learners else {}),
        }
        for m in cluster.members
    ]
    members += [
        {"ID": "99", "name": name, "peerURLs": [f"https://10.0.0.9{i}:2380"]}
        for i, name in enumerate(extra)
    ]
    return json.dumps({"header": {}, "members": members})


def probe(cluster, *, down=(), unhealthy=(), alarms=(), members=None) -> list[str]:
    lines = []
    for m in cluster.members:
        ep = m.client_url(2379)
        if m.name in down:
            error = f"curl: (7) Failed to connect to {m.address} port 2379"
            lines.append(f"{ep}\t{error}\t{error}")
        elif m.name in unhealthy:
            lines.append(f'{ep}\t{{"health":"false","reason":"RAFT NO LEADER"}}\t')
        else:
            lines.append(f"{ep}\t{HEALTHY}\t{status_body(IDS[m.name], '11')}")
    first = cluster.members[0].client_url(2379)
    body = members if members is not None else member_list(cluster)
    alarm_list = [{"memberID": IDS["infra0"], "alarm": alarm} for alarm in alarms]
    lines.append(f"members\t{first}\t{body}")
    answer = {"header": {"member_id": IDS["infra0"]}, "alarms": alarm_list}
    lines.append(f"alarms\t{first}\t{json.dumps(answer)}")
    return lines


def refusals(cluster, name, *, stopped=(), **kwargs) -> list[str]:
    """The gate for ``name``; ``stopped``: members whose own host shows etcd not running."""
    member = next(m for m in cluster.members if m.name == name)
    view = parse_view(cluster, probe(cluster, **kwargs))
    return restart_refusals(cluster, view, member, running=name not in stopped)


def test_a_healthy_cluster_lets_any_member_restart(cluster):
    assert [refusals(cluster, m.name) for m in cluster.members] == [[], [], []]


def test_with_one_member_down_no_healthy_member_may_restart(cluster):
    (reason,) = refusals(cluster, "infra0", down={"infra2"})
    assert "only 1 other voting member(s) of 3 are healthy, 2 needed" in reason


def test_a_member_whose_own_host_shows_etcd_stopped_may_start(cluster):
    assert refusals(cluster, "infra2", down={"infra2"}, stopped={"infra2"}) == []
    assert refusals(cluster, "infra2", down={"infra1", "infra2"}, stopped={"infra2"}) == []


def test_a_running_member_that_does_not_answer_the_prober_is_up_not_down(cluster):
    """Silence is no proof: a slow member, or one the prober cannot reach while its peers
    can, still votes. With another member down, restarting it would cost quorum."""
    (reason,) = refusals(cluster, "infra2", down={"infra1", "infra2"})
    assert "infra2's etcd runs but its endpoint does not answer here" in reason
    assert "Failed to connect" in reason and "it counts as up" in reason
    assert "only 1 other voting member(s) of 3 are healthy, 2 needed" in reason
    # The same member, same silence, while both others are healthy: it may restart.
    assert refusals(cluster, "infra2", down={"infra2"}) == []


def test_the_gate_counts_a_silent_member_as_up_unless_its_host_shows_etcd_stopped(cluster):
    """infra1 answers its peers but not the prober on infra0; infra2 is down. Each view
    is read only when needed, the host only when the first view refuses."""
    infra1 = cluster.members[1]
    read: list[str] = []
    looks: list[bool] = []

    def views():
        for viewer, down in (("infra1", {"infra2"}), ("infra0", {"infra1", "infra2"})):
            read.append(viewer)
            yield viewer, parse_view(cluster, probe(cluster, down=down))

    def host_shows(stopped: bool) -> Callable[[], bool]:
        def look() -> bool:
            looks.append(stopped)
            return stopped

        return look

    reasons = gate(cluster, infra1, views(), host_shows(False))
    assert [r.split(":")[0] for r in reasons] == ["seen from infra1", "seen from infra0"]
    assert "only 1 other voting member(s) of 3 are healthy" in reasons[0]
    assert "infra1's etcd runs but its endpoint does not answer here" in reasons[1]
    assert read == ["infra1", "infra0"] and looks == [False]
    read.clear()
    assert gate(cluster, infra1, views(), host_shows(True)) == []  # down: it may start
    assert read == ["infra1"]


def test_the_gate_asks_no_further_once_one_view_lets_the_member_restart(cluster):
    healthy = parse_view(cluster, probe(cluster))
    cut_off = parse_view(cluster, probe(cluster, down={"infra0", "infra2"}))
    member = cluster.members[1]

    def never() -> bool:
        raise AssertionError("its own view let it: its host need not be looked at")

    assert gate(cluster, member, [("infra1", healthy)], never) == []
    views = [("infra1", cut_off), ("infra0", healthy)]  # cut off, while the others keep quorum
    assert gate(cluster, member, views, lambda: False) == []


def test_a_running_member_whose_etcd_is_unhealthy_is_gated_like_any_other(cluster):
    (reason,) = refusals(cluster, "infra2", unhealthy={"infra2"}, down={"infra1"})
    assert "only 1 other voting member(s) of 3 are healthy" in reason
    assert refusals(cluster, "infra2", unhealthy={"infra2"}) == []


def test_a_cluster_wide_health_failure_never_restarts_a_member_that_answers(cluster):
    everyone = {"infra0", "infra1", "infra2"}
    for member in cluster.members:
        assert refusals(cluster, member.name, unhealthy=everyone) != []


@pytest.mark.parametrize("alarm", ["NOSPACE", "CORRUPT"])
def test_an_active_alarm_refuses_every_restart_even_of_a_member_that_is_down(cluster, alarm):
    for member in cluster.members:
        (reason,) = refusals(
            cluster, member.name, alarms=[alarm], down={"infra2"}, stopped={"infra2"}
        )
        assert f"active alarm ({alarm})" in reason and "alarm disarm" in reason


def test_quorum_comes_from_the_live_member_list_not_the_inventory(cluster):
    # Two more voters than the inventory knows, neither healthy to us: 5 voters, 3 needed.
    live = member_list(cluster, extra=("old-a", "old-b"))
    assert refusals(cluster, "infra0", members=live) != []
    assert "2 other voting member(s) of 5" in refusals(cluster, "infra0", members=live)[0]
    # A learner does not vote: two voters, both needed... and a learner may always restart.
    with_learner = member_list(cluster, learners=("infra2",))
    assert refusals(cluster, "infra2", members=with_learner) == []
    assert refusals(cluster, "infra0", members=with_learner) != []


def test_without_a_member_list_nothing_restarts(cluster):
    view = parse_view(cluster, [line for line in probe(cluster) if not line.startswith("members")])
    assert (
        "no member answered the member list"
        in restart_refusals(cluster, view, cluster.members[0], running=True)[0]
    )


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("curl: (28) Operation timed out after 5000 milliseconds", "Operation timed out"),
        ('{"error":"etcdserver: request timed out","code":14}', "request timed out"),
        ('{"code":14,"message":"etcdserver: leader changed"}', "leader changed"),
        ("", "no answer"),
        ('{"header":{},"alarms":["NOSPACE"]}', "unreadable alarm entry"),
        ("<html>garbage", "garbage"),
    ],
)
def test_an_alarm_answer_that_failed_refuses_every_restart(cluster, answer, shown):
    lines = [
        f"alarms\t{cluster.members[0].client_url(2379)}\t{answer}"
        if line.startswith("alarms")
        else line
        for line in probe(cluster)
    ]
    view = parse_view(cluster, lines)
    assert view.alarms == ()
    for member in cluster.members:
        for running in (True, False):
            (reason,) = restart_refusals(cluster, view, member, running=running)
            assert "cannot tell whether an alarm is active" in reason and shown in reason


def test_a_missing_alarm_answer_refuses_too(cluster):
    view = parse_view(cluster, [line for line in probe(cluster) if not line.startswith("alarms")])
    (reason,) = restart_refusals(cluster, view, cluster.members[0], running=True)
    assert "cannot tell whether an alarm is active" in reason


def test_no_active_alarm_reads_as_none(cluster):
    assert parse_view(cluster, probe(cluster)).alarm_error == ""
    # etcd 3.4's gateway answers a GET of no alarms with an empty object, no header.
    lines = [line for line in probe(cluster) if not line.startswith("alarms")]
    lines.append(f"alarms\t{cluster.members[0].client_url(2379)}\t{{}}")
    view = parse_view(cluster, lines)
    assert view.alarms == () and view.alarm_error == ""
    assert restart_refusals(cluster, view, cluster.members[0], running=True) == []
    assert parse_view(cluster, probe(cluster, alarms=["NONE"])).alarms == ()


def test_members_listed_but_never_started_are_found_by_peer_url(cluster):
    view = parse_view(cluster, probe(cluster, members=member_list(cluster, unstarted=("infra2",))))
    assert unstarted_peer_urls(view) == {"https://10.0.0.8:2380"}
    # A bootstrap member keeps its name from --initial-cluster but publishes no client URL.
    listed = json.loads(member_list(cluster, unstarted=("infra2",)))
    listed["members"][2]["name"] = "infra2"
    view = parse_view(cluster, probe(cluster, members=json.dumps(listed)))
    assert unstarted_peer_urls(view) == {"https://10.0.0.8:2380"}
    assert unstarted_peer_urls(parse_view(cluster, probe(cluster))) == set()


# --- parsing what observe_etcd printed -------------------------------------------------------


def test_a_static_pod_observation_reads_crictl_inspect_and_the_manifest():
    inspect = {
        "status": {"id": "abc", "startedAt": "2026-11-22T18:00:01.123456789Z"},
        "info": {"runtimeSpec": {"process": {"args": ["etcd", "--name=infra0"]}}},
    }
    manifest = "spec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.6.9-0\n"
    manifest += "    command: [etcd, --name=infra0]\n"
    lines = [
        "now:1795370000.5",
        "container:abc",
        f"inspect:{base64.b64encode(json.dumps(inspect).encode()).decode()}",
        f"manifest_b64:{base64.b64encode(manifest.encode()).decode()}",
        "ca_mtime:1795360000.000000000",
        f"served_client:{NOTHING_SHA256}",
        f"file_server:{CERT}",
    ]
    observation = parse_observation(lines)
    assert observation.container_id == "abc" and observation.args == ("etcd", "--name=infra0")
    assert observation.manifest_args == ("etcd", "--name=infra0")
    assert observation.manifest_image == "registry.k8s.io/etcd:3.6.9-0"
    assert observation.manifest_sha256 == hashlib.sha256(manifest.encode()).hexdigest()
    assert observation.rendered_manifest_sha256 == ""
    with_record = parse_observation([*lines, f"rendered:{CONFIG} {LIVE}"])
    assert with_record.rendered_config_sha256 == CONFIG
    assert with_record.rendered_manifest_sha256 == LIVE
    assert observation.started_at == pytest.approx(
        datetime.datetime(2026, 11, 22, 18, 0, 1, 123456, tzinfo=datetime.UTC).timestamp()
    )
    assert observation.served_client == "" and observation.file_server == CERT
    assert observation.clock == 1795370000.5 and not observation.runtime_error


def test_a_systemd_observation_reads_argv_start_and_a_replaced_binary():
    lines = [
        "pid:42",
        "need_reload:yes",
        "arg:/usr/bin/etcd",
        "arg:--name=infra0",
        "started:1795360000.25",
        "exe:/usr/bin/etcd (deleted)",
    ]
    observation = parse_observation(lines)
    assert observation.args == ("/usr/bin/etcd", "--name=infra0")
    assert observation.started_at == 1795360000.25
    assert observation.binary_replaced and observation.needs_daemon_reload
    assert parse_observation(["pid:0"]).running is False


def test_only_a_look_that_worked_shows_etcd_stopped():
    """The gate's one exemption: the host itself showed etcd not running."""
    assert parse_observation(["now:1795370000.5", "pid:0"]).shows_stopped
    assert parse_observation(["now:1795370000.5"]).shows_stopped  # static-pod: no container
    assert not parse_observation([]).shows_stopped  # the look failed: nothing shown
    assert not parse_observation(["now:1", "runtime_error:connection refused"]).shows_stopped
    running = ["now:1795370000.5", "pid:42", "arg:/usr/bin/etcd", "arg:--name=infra0"]
    assert not parse_observation(running).shows_stopped
