"""Every refusal before a host changes: settings, inventory, data safety, preflight.

Each refusal is a ``DeployInputError`` whose message names the offending value (and
the host, where there is one), so an operator can fix the input from the message.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from etcd_cluster.engine.preflight import (
    SOCKET_MARK,
    Survey,
    commands_to_probe,
    missing_requirements,
    packages_to_install,
    parse_survey,
    survey_script,
)
from etcd_cluster.engine.templates import render
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd.cluster import Cluster, MemberInput, build_cluster
from etcd_cluster.etcd.safety import data_dir_refusals, recorded_initial_cluster, same_members
from etcd_cluster.settings import refuse_unsupported_flags
from tests.unit.guide import GUIDE_HOSTS

H0, H1, H2 = GUIDE_HOSTS


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DeployInputError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


# --- Settings -------------------------------------------------------------------------------

BAD_SETTINGS = {
    "runtime": ({"etcd_runtime": "docker"}, ["etcd_runtime", "'docker'", "static-pod"]),
    "api-version": ({"kubeadm_api_version": "v1beta2"}, ["kubeadm_api_version", "'v1beta2'"]),
    "port-range": ({"etcd_client_port": 70000}, ["etcd_client_port", "70000", "1..65535"]),
    "port-text": ({"etcd_peer_port": "http"}, ["etcd_peer_port", "'http'", "whole number"]),
    "port-bool": ({"etcd_client_port": True}, ["etcd_client_port", "True"]),
    "equal-ports": ({"etcd_client_port": 2380}, ["etcd_client_port=2380", "etcd_peer_port=2380"]),
    "metrics-port": ({"etcd_peer_port": 2381}, ["etcd_peer_port=2381", "2381"]),
    "key-algorithm": ({"etcd_key_algorithm": "ECDSA-P521"}, ["etcd_key_algorithm", "'ECDSA-P521'"]),
    "validity-zero": ({"etcd_cert_validity_hours": 0}, ["etcd_cert_validity_hours", "0"]),
    "validity-negative": ({"etcd_ca_validity_hours": "-5"}, ["etcd_ca_validity_hours", "'-5'"]),
    "validity-float": ({"etcd_cert_validity_hours": 1.5}, ["etcd_cert_validity_hours", "1.5"]),
    "renew-range": ({"etcd_renew_before_days": 5000}, ["etcd_renew_before_days", "5000"]),
    "cgroup-driver": ({"kubelet_cgroup_driver": "none"}, ["kubelet_cgroup_driver", "'none'"]),
    "cri-endpoint-empty": (
        {"kubelet_container_runtime_endpoint": ""},
        ["kubelet_container_runtime_endpoint", "''"],
    ),
    "image-tag-newline": ({"etcd_image_tag": "3.6\n"}, ["etcd_image_tag", "'3.6\\n'"]),
    "extra-args-string": ({"etcd_extra_args": "quota=1"}, ["etcd_extra_args", "'quota=1'"]),
    "extra-args-list-shape": (
        {"etcd_extra_args": [{"name": "quota-backend-bytes"}]},
        ["etcd_extra_args", "quota-backend-bytes"],
    ),
    "extra-args-dashes": (
        {"etcd_extra_args": {"--quota-backend-bytes": "1"}},
        ["etcd_extra_args", "'--quota-backend-bytes'", "no leading dashes"],
    ),
    "extra-args-value": (
        {"etcd_extra_args": {"log-level": ["debug"]}},
        ["etcd_extra_args", "'log-level'"],
    ),
    "extra-args-multiline": (
        {"etcd_extra_args": [{"name": "log-level", "value": "debug\ninfo"}]},
        ["etcd_extra_args", "'log-level'", "without spaces"],
    ),
    "extra-args-percent": (
        {"etcd_extra_args": {"log-format": "%h-50%"}},  # systemd would expand it
        ["etcd_extra_args", "'%h-50%'", "'%'"],
    ),
    "extra-args-dollar": (
        {"etcd_extra_args": {"log-level": "$LEVEL"}},
        ["etcd_extra_args", "'$LEVEL'", "'$'"],
    ),
    "extra-args-twice": (
        {"etcd_extra_args": [{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]},
        ["etcd_extra_args", "'a' is given twice"],
    ),
    "path-with-space": (
        {"etcd_pki_dir": "/srv/etcd pki"},
        ["etcd_pki_dir", "'/srv/etcd pki'", "without spaces"],
    ),
    "data-dir-relative": ({"etcd_data_dir": "var/lib/etcd"}, ["etcd_data_dir", "'var/lib/etcd'"]),
    "pki-dir-root": ({"etcd_pki_dir": "/"}, ["etcd_pki_dir", "'/'"]),
    "binary-relative": ({"etcd_binary": "etcd"}, ["etcd_binary", "'etcd'", "absolute"]),
    "manifests-not-text": ({"etcd_manifests_dir": None}, ["etcd_manifests_dir", "None"]),
    "manifests-not-kubeadms": (
        {"etcd_manifests_dir": "/srv/manifests"},
        ["etcd_manifests_dir='/srv/manifests'", "static-pod", "/etc/kubernetes/manifests"],
    ),
    **{
        f"owned-{flag}": (
            {"etcd_extra_args": {flag: "https://127.0.0.1:2379"}},
            ["etcd_extra_args", repr(flag), "cannot be overridden", "etcd_address"],
        )
        for flag in (
            "listen-peer-urls",
            "listen-client-urls",
            "advertise-client-urls",
            "initial-advertise-peer-urls",
        )
    },
}


@pytest.mark.parametrize(("overrides", "named"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_settings_refuse_bad_values_naming_key_and_value(make_settings, overrides, named):
    message = refusal(make_settings, **overrides)
    for text in named:
        assert text in message


def test_defaults_are_valid_and_the_guides(settings):
    assert (settings.runtime, settings.kubeadm_api_version) == ("static-pod", "v1beta4")
    assert (settings.client_port, settings.peer_port) == (2379, 2380)
    assert (settings.pki_dir, settings.data_dir) == ("/etc/kubernetes/pki", "/var/lib/etcd")
    assert settings.key_algorithm == "RSA-2048"
    assert settings.extra_args == ()


def test_settings_accept_command_line_strings_and_both_extra_args_shapes(make_settings):
    as_text = make_settings(etcd_client_port="12379", etcd_pki_dir="/srv/pki/")
    assert as_text.client_port == 12379
    assert as_text.pki_dir == "/srv/pki"
    mapping = make_settings(etcd_extra_args={"quota-backend-bytes": 8589934592, "x": True})
    listed = make_settings(
        etcd_extra_args=[
            {"name": "quota-backend-bytes", "value": "8589934592"},
            {"name": "x", "value": "true"},
        ]
    )
    assert (
        mapping.extra_args
        == listed.extra_args
        == (
            ("quota-backend-bytes", "8589934592"),
            ("x", "true"),
        )
    )


def test_the_systemd_runtime_may_move_the_manifests_dir(make_settings):
    moved = make_settings(
        etcd_runtime="systemd", etcd_version="distro", etcd_manifests_dir="/srv/manifests"
    )
    assert moved.manifests_dir == "/srv/manifests"


# --- Inventory (build_cluster) ----------------------------------------------------------------


def test_an_empty_group_is_refused(settings):
    assert "'etcd' is empty" in refusal(build_cluster, [], settings)


BAD_INVENTORIES = {
    "duplicate-names": (
        [MemberInput("10.0.0.6", name="etcd"), MemberInput("10.0.0.7", name="etcd")],
        ["etcd_name='etcd'", "10.0.0.6", "10.0.0.7"],
    ),
    "duplicate-default-and-explicit-name": (
        [MemberInput("10.0.0.6"), MemberInput("10.0.0.7", name="infra0")],
        ["etcd_name='infra0'", "10.0.0.6", "10.0.0.7"],
    ),
    "duplicate-addresses": (
        [MemberInput("etcd-a", address="10.0.0.6"), MemberInput("etcd-b", address="10.0.0.6")],
        ["etcd_address='10.0.0.6'", "etcd-a", "etcd-b"],
    ),
    "same-ipv6-written-two-ways": (
        [MemberInput("fd00::6"), MemberInput("etcd-b", address="fd00:0:0:0:0:0:0:6")],
        ["etcd_address='fd00::6'", "fd00::6 and etcd-b"],
    ),
    "invalid-address": (
        [MemberInput("etcd-a", address="10.0.0.300")],
        ["host etcd-a", "'10.0.0.300'"],
    ),
    "missing-address": (
        [MemberInput("10.0.0.6"), MemberInput("etcd-b.example.net")],
        ["host etcd-b.example.net", "etcd_address is required"],
    ),
    "invalid-name": (
        [MemberInput("10.0.0.6", name="Infra_0")],
        ["host 10.0.0.6", "etcd_name='Infra_0'"],
    ),
    "wildcard-name": (
        [MemberInput("10.0.0.6", name="*.example")],
        ["host 10.0.0.6", "'*.example'"],
    ),
    "name-not-text": ([MemberInput("10.0.0.6", name=7)], ["host 10.0.0.6", "etcd_name=7"]),
    "mixed-families": (
        [MemberInput("10.0.0.6"), MemberInput("fd00::7"), MemberInput("10.0.0.8")],
        ["mixes IPv4 and IPv6", "10.0.0.6=10.0.0.6", "fd00::7=fd00::7"],
    ),
    "bad-server-san": (
        [MemberInput("10.0.0.6", server_sans=["etcd_0.example"])],
        ["host 10.0.0.6", "etcd_server_cert_sans", "'etcd_0.example'"],
    ),
    "bad-peer-san": (
        [MemberInput("10.0.0.6", peer_sans="ok.example, https://x")],
        ["host 10.0.0.6", "etcd_peer_cert_sans", "'https://x'"],
    ),
    "scoped-ipv6-address": (
        [MemberInput("etcd-a", address="fe80::1%eth0")],
        ["host etcd-a", "etcd_address='fe80::1%eth0'", "scoped", "'eth0'"],
    ),
    "scoped-ipv6-inventory-name": (
        [MemberInput("fe80::6%eth0")],
        ["host fe80::6%eth0", "scoped"],
    ),
    "san-not-a-list": (
        [MemberInput("10.0.0.6", server_sans={"a": 1})],
        ["host 10.0.0.6", "etcd_server_cert_sans", "list of strings"],
    ),
}


@pytest.mark.parametrize(("inputs", "named"), BAD_INVENTORIES.values(), ids=BAD_INVENTORIES.keys())
def test_inventory_refusals_name_host_and_value(settings, inputs, named):
    message = refusal(build_cluster, inputs, settings)
    for text in named:
        assert text in message


INVENTORY_WAYS_OUT = {
    "invalid-address": ("invalid-address", ["set etcd_address in the inventory", "10.0.0.6"]),
    "missing-address": (
        "missing-address",
        ['("etcd-b.example.net", {"etcd_address": "10.0.0.6"})'],
    ),
    "duplicate-names": ("duplicate-names", ["give each member its own etcd_name"]),
    "duplicate-addresses": ("duplicate-addresses", ["give each member its own etcd_address"]),
    "mixed-families": ("mixed-families", ["every member an IPv4 address"]),
}


@pytest.mark.parametrize(
    ("case", "named"), INVENTORY_WAYS_OUT.values(), ids=INVENTORY_WAYS_OUT.keys()
)
def test_inventory_refusals_name_the_way_out(settings, case, named):
    message = refusal(build_cluster, BAD_INVENTORIES[case][0], settings)
    for text in named:
        assert text in message, message


def test_defaults_name_members_infra_i_and_take_the_ip_inventory_name(cluster):
    assert [(m.index, m.host, m.name, m.address) for m in cluster.members] == [
        (0, "10.0.0.6", "infra0", "10.0.0.6"),
        (1, "10.0.0.7", "infra1", "10.0.0.7"),
        (2, "10.0.0.8", "infra2", "10.0.0.8"),
    ]
    assert cluster.first.host == "10.0.0.6"
    assert cluster.warnings == ()


def test_addresses_are_canonical_and_names_explicit_where_given(settings):
    cluster = build_cluster(
        [
            MemberInput("[FD00::6]"),
            MemberInput("etcd-b.example.net", name="etcd-b", address="fd00:0::7"),
            MemberInput("@docker/etcd-c", name="", address="[fd00::8]"),
        ],
        settings,
    )
    assert [(m.name, m.address) for m in cluster.members] == [
        ("infra0", "fd00::6"),
        ("etcd-b", "fd00::7"),
        ("infra2", "fd00::8"),
    ]


@pytest.mark.parametrize("count", [2, 4])
def test_an_even_member_count_is_a_warning_not_an_error(settings, count):
    inputs = [MemberInput(f"10.0.0.{6 + i}") for i in range(count)]
    (warning,) = build_cluster(inputs, settings).warnings
    assert f"{count} members" in warning and "odd" in warning


@pytest.mark.parametrize("count", [1, 3, 5])
def test_an_odd_member_count_gives_no_warning(settings, count):
    inputs = [MemberInput(f"10.0.0.{6 + i}") for i in range(count)]
    assert build_cluster(inputs, settings).warnings == ()


# --- Data safety (existing etcd data) -------------------------------------------------------


def recorded_configs(cluster: Cluster) -> dict[str, bytes]:
    """What an earlier run left in each member's kubeadmcfg.yaml."""
    return {
        m.host: render(kc.KUBEADM_CONFIG_TEMPLATE, **kc.kubeadm_config_context(cluster, m)).encode()
        for m in cluster.members
    }


def all_have_data(cluster: Cluster) -> dict[str, bool]:
    return {m.host: True for m in cluster.members}


def test_a_first_bootstrap_passes(cluster):
    assert data_dir_refusals(cluster, {}, {}) == []
    assert data_dir_refusals(cluster, {h: False for h in GUIDE_HOSTS}, {}) == []


def test_an_unchanged_cluster_with_data_passes(cluster):
    assert data_dir_refusals(cluster, all_have_data(cluster), recorded_configs(cluster)) == []


def test_a_member_without_data_next_to_members_with_data_is_refused(cluster):
    has_data = {H0: True, H1: True, H2: False}
    (message,) = data_dir_refusals(cluster, has_data, recorded_configs(cluster))
    assert f"host {H2} (etcd member infra2)" in message
    assert f"while {H0}, {H1} do" in message
    assert "/var/lib/etcd/member/wal" in message


def test_data_without_a_recorded_config_is_refused(cluster):
    configs = {**recorded_configs(cluster), H1: None}
    (message,) = data_dir_refusals(cluster, all_have_data(cluster), configs)
    assert f"host {H1} (etcd member infra1)" in message
    assert "/etc/kubernetes/kubeadmcfg.yaml" in message


HOSTS = ["etcd-a", "etcd-b", "etcd-c"]
ADDRESSES = ["10.0.0.6", "10.0.0.7", "10.0.0.8"]
MEMBERSHIP_CHANGES = {
    "member-renamed": [MemberInput(h, name=n, address=a) for h, n, a in
                       zip(HOSTS, ["infra0", "infra1", "etcd-two"], ADDRESSES, strict=True)],
    "member-readdressed": [MemberInput(h, address=a) for h, a in
                           zip(HOSTS, ["10.0.0.6", "10.0.0.7", "10.0.0.9"], strict=True)],
    "member-added": [MemberInput(h, address=a) for h, a in
                     zip([*HOSTS, "etcd-d", "etcd-e"], [*ADDRESSES, "10.0.0.9", "10.0.0.10"],
                         strict=True)],
}  # fmt: skip


@pytest.mark.parametrize("new_inputs", MEMBERSHIP_CHANGES.values(), ids=MEMBERSHIP_CHANGES.keys())
def test_a_changed_member_list_is_refused_naming_every_member_with_data(settings, new_inputs):
    old_inputs = [MemberInput(h, address=a) for h, a in zip(HOSTS, ADDRESSES, strict=True)]
    before, after = build_cluster(old_inputs, settings), build_cluster(new_inputs, settings)
    has_data = {m.host: m.host in HOSTS for m in after.members}
    refusals = data_dir_refusals(after, has_data, recorded_configs(before))
    (changed,) = [r for r in refusals if repr(before.initial_cluster) in r]
    assert repr(after.initial_cluster) in changed
    assert all(host in changed for host in HOSTS)
    assert len(refusals) == 1 + len(after.members) - len(HOSTS)  # + one per new, empty member


def test_reordering_the_inventory_is_not_a_membership_change(settings):
    inputs = [MemberInput(h, address=a) for h, a in zip(HOSTS, ADDRESSES, strict=True)]
    before = build_cluster(inputs, settings)
    names = {m.host: m.name for m in before.members}
    renamed = [MemberInput(i.host, name=names[i.host], address=i.address) for i in inputs]
    after = build_cluster([renamed[2], renamed[0], renamed[1]], settings)
    assert after.initial_cluster != before.initial_cluster  # same entries, another order
    assert same_members(after.initial_cluster, before.initial_cluster)
    assert data_dir_refusals(after, all_have_data(after), recorded_configs(before)) == []


def test_same_members_ignores_order_only():
    assert same_members("b=https://2:2380,a=https://1:2380", "a=https://1:2380,b=https://2:2380")
    assert not same_members("a=https://1:2380", "a=https://1:2381")


@pytest.mark.parametrize("api_version", ["v1beta4", "v1beta3"])
def test_recorded_initial_cluster_reads_both_extra_args_shapes(
    make_cluster, make_settings, api_version
):
    cluster = make_cluster(settings_=make_settings(kubeadm_api_version=api_version))
    for config in recorded_configs(cluster).values():
        assert recorded_initial_cluster(config) == cluster.initial_cluster


@pytest.mark.parametrize(
    "config",
    [
        None,
        b"",
        b"{ not: yaml",
        yaml.safe_dump({"kind": "InitConfiguration"}).encode(),
        yaml.safe_dump({"kind": "ClusterConfiguration", "etcd": {"local": {}}}).encode(),
    ],
    ids=["absent", "empty", "unparsable", "no-cluster-configuration", "no-extra-args"],
)
def test_recorded_initial_cluster_is_none_without_one(config):
    assert recorded_initial_cluster(config) is None


@pytest.mark.parametrize("flag", ["name", "data-dir", "initial-cluster", "initial-cluster-state"])
def test_flags_the_deploy_owns_cannot_be_overridden(make_settings, flag):
    # An override would desync the member list the data-safety check compares.
    with pytest.raises(DeployInputError, match=re.escape(f"{flag!r} is set by the deploy")):
        make_settings(etcd_extra_args={flag: "x"})


# --- Preflight -------------------------------------------------------------------------------

BASICS = {"systemctl", "base64", "stat", "install", "curl", "openssl", "apt-get"}


@pytest.fixture(scope="module")
def systemd_settings(make_settings):
    return make_settings(etcd_runtime="systemd", etcd_version="distro")


def test_systemd_runtime_without_etcd_and_without_apt_get_is_refused(systemd_settings):
    (missing,) = missing_requirements(systemd_settings, BASICS - {"apt-get"})
    assert "/usr/bin/etcd" in missing and "'etcd-server'" in missing and "apt-get" in missing


def test_systemd_runtime_without_etcd_but_with_apt_get_installs_it(systemd_settings):
    present = BASICS - {"curl"}
    assert missing_requirements(systemd_settings, present) == []
    assert packages_to_install(systemd_settings, present) == ["curl", "etcd-server"]
    assert packages_to_install(systemd_settings, BASICS | {"/usr/bin/etcd"}) == []


def test_systemd_runtime_without_a_package_to_install_is_refused(make_settings):
    settings = make_settings(etcd_runtime="systemd", etcd_version="distro", etcd_package="")
    (missing,) = missing_requirements(settings, BASICS)
    assert "/usr/bin/etcd" in missing
    assert packages_to_install(settings, BASICS) == []


def test_systemd_runtime_probes_its_binary_and_not_kubeadm(systemd_settings):
    assert commands_to_probe(systemd_settings)[-1] == "/usr/bin/etcd"
    assert "kubeadm" not in commands_to_probe(systemd_settings)


STATIC_POD_NEEDS = {"kubeadm", "kubelet", "crictl", SOCKET_MARK}


def test_static_pod_runtime_with_everything_passes(settings):
    assert missing_requirements(settings, BASICS | STATIC_POD_NEEDS) == []
    assert packages_to_install(settings, BASICS | STATIC_POD_NEEDS) == []
    assert set(commands_to_probe(settings)) >= {"kubeadm", "kubelet", "crictl"}


@pytest.mark.parametrize(
    ("absent", "named"),
    [
        ("kubeadm", "kubeadm ("),
        ("kubelet", "kubelet ("),
        ("crictl", "crictl ("),
        (SOCKET_MARK, "/var/run/containerd/containerd.sock"),
        ("systemctl", "systemctl"),
        ("base64", "base64"),
    ],
)
def test_static_pod_runtime_names_each_missing_requirement(settings, absent, named):
    (missing,) = missing_requirements(settings, (BASICS | STATIC_POD_NEEDS) - {absent})
    assert missing.startswith(named) or named in missing


# A refusal a new user meets first names the way out, not only what is wrong.
WAYS_OUT = {
    "static-pod-tools": (
        {},
        STATIC_POD_NEEDS - {"kubelet"},
        ["kubelet (", "`etcd_runtime=systemd`"],
    ),
    "static-pod-nothing": ({}, set(), ["kubeadm, kubelet, crictl", "`etcd_runtime=systemd`"]),
    "static-pod-socket": (
        {},
        STATIC_POD_NEEDS - {SOCKET_MARK},
        [
            "start the container runtime",
            "kubelet_container_runtime_endpoint",
            "etcd_runtime=systemd",
        ],
    ),
    "systemd-no-etcd": (
        {"etcd_runtime": "systemd", "etcd_version": "distro", "etcd_package": ""},
        set(),
        ["/usr/bin/etcd", "unset etcd_version", "install etcd at /usr/bin/etcd"],
    ),
    "release-no-tar": (
        {
            "etcd_runtime": "systemd",
            "etcd_version": "3.5.16",
            "etcd_archive_sha256": {"3.5.16": "0" * 64},
        },
        {"sha256sum"},
        ["tar (to verify and unpack etcd_version='3.5.16'", "install tar"],
    ),
}


@pytest.mark.parametrize(
    ("overrides", "extra", "named"),
    WAYS_OUT.values(),
    ids=WAYS_OUT.keys(),
)
def test_missing_requirements_name_the_way_out(make_settings, overrides, extra, named):
    missing = "; ".join(missing_requirements(make_settings(**overrides), BASICS | set(extra)))
    for text in named:
        assert text in missing, missing


@pytest.mark.parametrize(
    ("absent", "named"),
    [
        ({"systemctl"}, "the host must run systemd"),
        ({"base64"}, "install coreutils"),
        ({"curl", "apt-get"}, "install curl on the host"),
        ({"openssl", "apt-get"}, "install openssl on the host"),
    ],
)
def test_missing_base_tools_name_where_they_come_from(settings, absent, named):
    (missing,) = missing_requirements(settings, (BASICS | STATIC_POD_NEEDS) - absent)
    assert named in missing, missing


def test_missing_curl_is_refused_only_without_apt_get(settings):
    present = BASICS | STATIC_POD_NEEDS
    assert missing_requirements(settings, present - {"curl"}) == []
    (missing,) = missing_requirements(settings, present - {"curl", "apt-get"})
    assert missing.startswith("curl")


def test_a_non_unix_cri_endpoint_is_not_checked_as_a_socket(make_settings):
    settings = make_settings(kubelet_container_runtime_endpoint="tcp://127.0.0.1:3735")
    assert missing_requirements(settings, BASICS | {"kubeadm", "kubelet", "crictl"}) == []


# --- The host survey behind preflight ---------------------------------------------------------


def test_survey_script_runs_and_parses_on_this_machine(make_settings, tmp_path):
    """The survey is plain sh: run it here against a temp data dir and parse what it prints."""
    (tmp_path / "member" / "wal").mkdir(parents=True)
    settings = make_settings(
        etcd_runtime="systemd", etcd_version="distro", etcd_data_dir=str(tmp_path)
    )
    script = survey_script(settings, str(tmp_path / "absent.yaml"), ["sh"])
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    survey = parse_survey(result.stdout.splitlines())
    assert survey.present == ["sh"]
    assert survey.has_data and not survey.manifest and not survey.etcd_active
    assert survey.machine == os.uname().machine
    # in the one survey command, observe_etcd.sh prints the active: line from its systemctl
    assert "is-active" not in script


def test_parse_survey_reads_versions_from_the_binary_or_the_package():
    binary = parse_survey(["cmd:curl", "version:etcd Version: 3.4.23", "active:yes"])
    assert binary == Survey(present=["curl"], etcd_version="3.4.23", etcd_active=True)
    package = parse_survey(["version:Version: 3.4.23-4+b1", "manifest:yes", "cmd:@socket"])
    assert package.etcd_version == "3.4.23" and package.manifest and package.present == ["@socket"]
    assert parse_survey(["version:"]).etcd_version == ""


def test_missing_openssl_is_installed_or_refused_without_apt_get(settings):
    present = BASICS | {"kubeadm", "kubelet", "crictl", "@socket"}
    assert packages_to_install(settings, present - {"openssl"}) == ["openssl"]
    (missing,) = missing_requirements(settings, present - {"openssl", "apt-get"})
    assert missing.startswith("openssl (key fingerprints")


@pytest.mark.parametrize(
    "value", [{"wal-dir": "/mnt/wal"}, [{"name": "wal-dir", "value": "/mnt/wal"}]]
)
def test_wal_dir_is_refused_naming_host_and_value(value):
    with pytest.raises(DeployInputError) as refused:
        refuse_unsupported_flags("etcd-b", value)
    message = str(refused.value)
    assert "host etcd-b: etcd_extra_args: wal-dir='/mnt/wal' is not supported" in message
    assert "etcd_data_dir" in message
    refuse_unsupported_flags("etcd-b", {"quota-backend-bytes": "8589934592"})  # others pass
    refuse_unsupported_flags("etcd-b", None)
