"""etcd's command line as ``kubeadm init phase etcd local`` writes it (reference 3.1, 3.2, 4.4)."""

from __future__ import annotations

import re

import pytest

from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import flags
from etcd_cluster.etcd.cluster import MemberInput
from etcd_cluster.etcd.flags import etcd_command, guide_extra_args, merge_args, parse_version
from tests.unit.guide import (
    GUIDE_HOSTS,
    GUIDE_NAMES,
    ORACLE_INFRA0_COMMAND,
    ORACLE_PRE36_FLAGS,
)

ETCD36_FLAGS = ["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"]


def pre36_oracle() -> list[str]:
    """Reference 4.4 for kubeadm v1.25-v1.33: experimental flags right after --data-dir."""
    command = [arg for arg in ORACLE_INFRA0_COMMAND if arg not in ETCD36_FLAGS]
    at = command.index("--data-dir=/var/lib/etcd") + 1
    return command[:at] + ORACLE_PRE36_FLAGS + command[at:]


def flag_values(command: list[str]) -> dict[str, str]:
    """``{name: value}`` of ``--name=value`` arguments (names are unique in these tests)."""
    return dict(arg.removeprefix("--").split("=", 1) for arg in command[1:])


def test_infra0_command_is_kubeadms_exactly(cluster):
    command = etcd_command(cluster, cluster.first, "3.6.9-0")
    assert command == ORACLE_INFRA0_COMMAND
    assert len(command) == 21  # "etcd" and 20 flags


@pytest.mark.parametrize("version", ["3.5.21-0", "3.4.23", "v3.5.0", "3.5.99", "unknown", ""])
def test_before_etcd_36_or_unparsable_the_experimental_flags_replace_the_new_ones(cluster, version):
    assert etcd_command(cluster, cluster.first, version) == pre36_oracle()


@pytest.mark.parametrize("version", ["3.6.0", "3.6.9-0", "v3.7.1", "etcd Version: 4.0.0"])
def test_from_etcd_36_the_feature_gate_and_watch_interval_are_used(cluster, version):
    command = etcd_command(cluster, cluster.first, version)
    assert set(ETCD36_FLAGS) <= set(command)
    assert not set(ORACLE_PRE36_FLAGS) & set(command)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_member_gets_its_own_name_and_urls_and_the_shared_cluster(cluster, index):
    host, name = GUIDE_HOSTS[index], GUIDE_NAMES[index]
    values = flag_values(etcd_command(cluster, cluster.members[index], "3.6.9-0"))
    assert values["name"] == name
    for flag in ("advertise-client-urls", "listen-client-urls"):
        assert values[flag] == f"https://{host}:2379"
    for flag in ("initial-advertise-peer-urls", "listen-peer-urls"):
        assert values[flag] == f"https://{host}:2380"
    assert values["initial-cluster"] == flag_values(ORACLE_INFRA0_COMMAND)["initial-cluster"]
    assert values["initial-cluster-state"] == "new"


def test_ipv6_members_get_bracketed_urls_and_the_ipv6_loopback(make_cluster):
    hosts = ["fd00::6", "fd00::7", "fd00::8"]
    cluster = make_cluster([MemberInput(host) for host in hosts])
    values = flag_values(etcd_command(cluster, cluster.first, "3.6.9-0"))
    assert values["advertise-client-urls"] == "https://[fd00::6]:2379"
    assert values["listen-client-urls"] == "https://[fd00::6]:2379"
    assert values["listen-peer-urls"] == "https://[fd00::6]:2380"
    assert values["initial-advertise-peer-urls"] == "https://[fd00::6]:2380"
    assert values["listen-metrics-urls"] == "http://[::1]:2381"
    assert values["initial-cluster"] == (
        "infra0=https://[fd00::6]:2380,infra1=https://[fd00::7]:2380,infra2=https://[fd00::8]:2380"
    )


def test_other_ports_reach_every_url_and_leave_metrics_on_2381(make_cluster, make_settings):
    cluster = make_cluster(settings_=make_settings(etcd_client_port=12379, etcd_peer_port=12380))
    command = etcd_command(cluster, cluster.first, "3.6.9-0")
    values = flag_values(command)
    assert values["advertise-client-urls"] == "https://10.0.0.6:12379"
    assert values["initial-advertise-peer-urls"] == "https://10.0.0.6:12380"
    assert values["initial-cluster"].count(":12380") == 3
    assert values["listen-metrics-urls"] == "http://127.0.0.1:2381"
    assert not [arg for arg in command if ":2379" in arg or ":2380" in arg]


def test_other_pki_and_data_dirs_reach_the_file_flags(make_cluster, make_settings):
    settings = make_settings(etcd_pki_dir="/srv/pki", etcd_data_dir="/data/etcd")
    cluster = make_cluster(settings_=settings)
    values = flag_values(etcd_command(cluster, cluster.first, "3.6.9-0"))
    assert values["data-dir"] == "/data/etcd"
    assert values["cert-file"] == "/srv/pki/etcd/server.crt"
    assert values["peer-key-file"] == "/srv/pki/etcd/peer.key"
    assert values["trusted-ca-file"] == values["peer-trusted-ca-file"] == "/srv/pki/etcd/ca.crt"


def test_the_binary_replaces_etcd_as_first_word(cluster):
    command = etcd_command(cluster, cluster.first, "3.6.9-0", binary="/usr/bin/etcd")
    assert command == ["/usr/bin/etcd", *ORACLE_INFRA0_COMMAND[1:]]


# --- Operator extra args ------------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_cluster(make_cluster, make_settings):
    extra = {
        "snapshot-count": "5000",  # one of kubeadm's base args: replaced
        "quota-backend-bytes": "8589934592",  # new
    }
    return make_cluster(settings_=make_settings(etcd_extra_args=extra))


def test_operator_args_follow_the_guides(operator_cluster):
    args = guide_extra_args(operator_cluster, operator_cluster.first)
    assert [name for name, _ in args] == [
        "initial-cluster",
        "initial-cluster-state",
        "name",
        "listen-peer-urls",
        "listen-client-urls",
        "advertise-client-urls",
        "initial-advertise-peer-urls",
        "snapshot-count",
        "quota-backend-bytes",
    ]


def test_operator_args_reach_the_command_sorted_and_replace_base_args(operator_cluster):
    command = etcd_command(operator_cluster, operator_cluster.first, "3.6.9-0")
    expected = [arg for arg in ORACLE_INFRA0_COMMAND if arg != "--snapshot-count=10000"]
    expected += [
        "--snapshot-count=5000",
        "--quota-backend-bytes=8589934592",
    ]
    assert command == ["etcd", *sorted(expected[1:], key=lambda arg: arg.split("=", 1))]


def test_merge_args_sorts_by_name_then_value_and_keeps_duplicate_extras():
    base = [("b", "1"), ("a", "2")]
    extra = [("c", "2"), ("c", "1"), ("a-b", "0")]
    assert merge_args(base, extra) == [("a", "2"), ("a-b", "0"), ("b", "1"), ("c", "1"), ("c", "2")]


def test_merge_args_drops_every_base_arg_named_in_extra():
    base = [("x", "1"), ("y", "1"), ("x", "2")]
    assert merge_args(base, [("x", "3")]) == [("x", "3"), ("y", "1")]


def test_the_guides_listen_client_urls_drop_kubeadms_loopback_listener(cluster):
    base = dict(flags.base_args(cluster, cluster.first, "3.6.9-0"))
    assert base["listen-client-urls"] == "https://127.0.0.1:2379,https://10.0.0.6:2379"
    values = flag_values(etcd_command(cluster, cluster.first, "3.6.9-0"))
    assert values["listen-client-urls"] == "https://10.0.0.6:2379"


# --- parse_version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("3.6.9-0", (3, 6, 9)),
        ("v3.5.21", (3, 5, 21)),
        ("etcd Version: 3.4.23\nGit SHA: abc\nGo Version: go1.12", (3, 4, 23)),
        ("3.10.0", (3, 10, 0)),
        ("3.5", None),
        ("", None),
        (None, None),
        ("latest", None),
    ],
)
def test_parse_version(text, version):
    assert parse_version(text) == version


# --- etcd_metrics_address ---------------------------------------------------------------------


def test_metrics_stay_on_kubeadms_loopback_by_default(cluster):
    assert cluster.settings.metrics_address == "loopback"
    assert "listen-metrics-urls" not in dict(guide_extra_args(cluster, cluster.first))


@pytest.mark.parametrize(
    ("hosts", "urls"),
    [
        (GUIDE_HOSTS, "http://127.0.0.1:2381,http://10.0.0.6:2381"),
        (["fd00::6", "fd00::7", "fd00::8"], "http://[::1]:2381,http://[fd00::6]:2381"),
    ],
)
def test_metrics_on_the_members_address_keep_the_loopback_first(
    make_cluster, make_settings, hosts, urls
):
    """Loopback first: kubeadm's liveness and startup probes use the first metrics URL."""
    settings = make_settings(etcd_metrics_address="member")
    cluster = make_cluster([MemberInput(host) for host in hosts], settings_=settings)
    extra = dict(guide_extra_args(cluster, cluster.first))
    assert extra["listen-metrics-urls"] == urls  # the static pod: kubeadm config extraArgs
    command = etcd_command(cluster, cluster.first, "3.6.9-0")  # the systemd unit's command
    assert flag_values(command)["listen-metrics-urls"] == urls
    assert len(command) == 21  # replaces kubeadm's flag, adds none


def test_metrics_address_refuses_other_values_and_a_second_listener(make_settings):
    with pytest.raises(DeployInputError, match=re.escape("etcd_metrics_address='0.0.0.0'")):
        make_settings(etcd_metrics_address="0.0.0.0")
    with pytest.raises(DeployInputError, match="keep one"):
        make_settings(
            etcd_metrics_address="member",
            etcd_extra_args={"listen-metrics-urls": "http://0.0.0.0:2381"},
        )
    loopback = make_settings(etcd_extra_args={"listen-metrics-urls": "http://0.0.0.0:2381"})
    assert loopback.metrics_address == "loopback"
