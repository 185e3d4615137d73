"""The files rendered from ``templates/`` against the guide (steps 1, 2, 7) and the HA hand-off.

Templates are rendered with ``etcd_cluster.engine.templates.render``, the same Jinja setup the
hosts get, and compared after parsing (YAML) or line by line (systemd files).
"""

from __future__ import annotations

import copy
import dataclasses
import shlex
from typing import Any

import pytest
import yaml

from etcd_cluster.engine.templates import render
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd.cluster import Cluster, MemberInput
from etcd_cluster.etcd.flags import etcd_command
from etcd_cluster.etcd.runtime import kubeadm_etcd_local, runtime_commands
from tests.unit.guide import (
    GUIDE_HOSTS,
    KUBELET_CONF,
    KUBELET_DROPIN,
    guide_inputs,
    guide_kubeadmcfg,
    pinned,
)


def rendered_kubeadmcfg(
    cluster: Cluster, index: int = 0, kubeadm_version: str = ""
) -> list[dict[str, Any]]:
    context = kc.kubeadm_config_context(cluster, cluster.members[index], kubeadm_version)
    return list(yaml.safe_load_all(render(kc.KUBEADM_CONFIG_TEMPLATE, **context)))


def guide_documents(
    index: int = 0, api_version: str = "v1beta4", kubernetes_version: str = ""
) -> list[dict[str, Any]]:
    """The guide's kubeadmcfg.yaml for HOST<index> with the deploy's pins (the CRI socket,
    and kubernetesVersion when known); for v1beta3 extraArgs become a map."""
    documents = pinned(list(yaml.safe_load_all(guide_kubeadmcfg(index))), kubernetes_version)
    for doc in documents:
        doc["apiVersion"] = f"kubeadm.k8s.io/{api_version}"
    if api_version == "v1beta3":
        local = documents[1]["etcd"]["local"]
        local["extraArgs"] = {arg["name"]: arg["value"] for arg in local["extraArgs"]}
    return documents


def local_etcd(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return documents[1]["etcd"]["local"]


# --- Step 2: kubeadmcfg.yaml -----------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2], ids=["HOST0", "HOST1", "HOST2"])
def test_v1beta4_config_is_the_guides_for_each_host(cluster, index):
    assert rendered_kubeadmcfg(cluster, index) == guide_documents(index)


def test_v1beta4_extra_args_are_a_list_in_the_guides_order(cluster):
    extra = local_etcd(rendered_kubeadmcfg(cluster))["extraArgs"]
    assert extra == local_etcd(guide_documents())["extraArgs"]  # list equality: order too


@pytest.mark.parametrize("index", [0, 1, 2], ids=["HOST0", "HOST1", "HOST2"])
def test_v1beta3_config_is_the_guides_with_an_extra_args_map(make_cluster, make_settings, index):
    cluster = make_cluster(settings_=make_settings(kubeadm_api_version="v1beta3"))
    documents = rendered_kubeadmcfg(cluster, index)
    assert documents == guide_documents(index, "v1beta3")
    assert [doc["apiVersion"] for doc in documents] == ["kubeadm.k8s.io/v1beta3"] * 2


# (data key, value, where the field lands, its value in the config, also in v1beta3)
NON_DEFAULT_SETTINGS = [
    ("etcd_pki_dir", "/srv/pki", ("certificatesDir",), "/srv/pki", True),
    ("etcd_key_algorithm", "ECDSA-P256", ("encryptionAlgorithm",), "ECDSA-P256", False),
    ("etcd_cert_validity_hours", 2160, ("certificateValidityPeriod",), "2160h0m0s", False),
    ("etcd_ca_validity_hours", 43800, ("caCertificateValidityPeriod",), "43800h0m0s", False),
    ("etcd_data_dir", "/data/etcd", ("etcd", "local", "dataDir"), "/data/etcd", True),
    (
        "etcd_image_repository",
        "k8s.example",
        ("etcd", "local", "imageRepository"),
        "k8s.example",
        True,
    ),
    ("etcd_image_tag", "3.6.9-0", ("etcd", "local", "imageTag"), "3.6.9-0", True),
]


@pytest.mark.parametrize("api_version", ["v1beta4", "v1beta3"])
@pytest.mark.parametrize(
    ("key", "value", "field", "expected", "in_v1beta3"),
    NON_DEFAULT_SETTINGS,
    ids=[row[0] for row in NON_DEFAULT_SETTINGS],
)
def test_a_non_default_setting_adds_exactly_its_field(
    make_cluster, make_settings, api_version, key, value, field, expected, in_v1beta3
):
    settings = make_settings(kubeadm_api_version=api_version, **{key: value})
    want = copy.deepcopy(guide_documents(0, api_version))
    if api_version == "v1beta4" or in_v1beta3:
        parent = want[1]
        for part in field[:-1]:
            parent = parent[part]
        parent[field[-1]] = expected
    assert rendered_kubeadmcfg(make_cluster(settings_=settings)) == want


@pytest.mark.parametrize("api_version", ["v1beta4", "v1beta3"])
def test_kubernetes_version_is_the_members_kubeadm_unless_pinned(
    make_cluster, make_settings, api_version
):
    cluster = make_cluster(settings_=make_settings(kubeadm_api_version=api_version))
    assert rendered_kubeadmcfg(cluster, 1, "v1.34.2") == guide_documents(1, api_version, "v1.34.2")
    pinned_cluster = make_cluster(
        settings_=make_settings(kubeadm_api_version=api_version, etcd_kubernetes_version="1.33.5")
    )
    documents = rendered_kubeadmcfg(pinned_cluster, 0, "v1.34.2")
    assert documents[1]["kubernetesVersion"] == "v1.33.5"
    assert "kubernetesVersion" not in rendered_kubeadmcfg(cluster)[1]  # neither known


def test_the_cri_socket_is_the_kubelets_and_only_for_static_pods(make_cluster, make_settings):
    crio = make_settings(kubelet_container_runtime_endpoint="unix:///run/crio/crio.sock")
    init = rendered_kubeadmcfg(make_cluster(settings_=crio))[0]
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/crio/crio.sock"
    systemd = make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    assert rendered_kubeadmcfg(systemd) == pinned(
        list(yaml.safe_load_all(guide_kubeadmcfg(0))), cri_socket=""
    )


def test_member_sans_follow_the_guides_host_san(make_cluster):
    cluster = make_cluster(
        guide_inputs(
            server_sans=[["etcd0.example.com", "10.0.0.6"], [], []],
            peer_sans=[["192.168.0.6"], [], []],
        )
    )
    local = local_etcd(rendered_kubeadmcfg(cluster))
    assert local["serverCertSANs"] == ["10.0.0.6", "etcd0.example.com"]
    assert local["peerCertSANs"] == ["10.0.0.6", "192.168.0.6"]


@pytest.mark.parametrize("api_version", ["v1beta4", "v1beta3"])
def test_operator_extra_args_are_rendered_as_strings_in_both_shapes(
    make_cluster, make_settings, api_version
):
    extra = {"snapshot-count": "5000", "experimental-x": True, "odd": "yes"}
    settings = make_settings(kubeadm_api_version=api_version, etcd_extra_args=extra)
    args = local_etcd(rendered_kubeadmcfg(make_cluster(settings_=settings)))["extraArgs"]
    pairs = (
        list(args.items()) if api_version == "v1beta3" else [(a["name"], a["value"]) for a in args]
    )
    assert pairs[-3:] == [("snapshot-count", "5000"), ("experimental-x", "true"), ("odd", "yes")]
    assert pairs[-2:] == [("experimental-x", "true"), ("odd", "yes")]  # not YAML booleans
    assert all(isinstance(value, str) for _, value in pairs)


def test_ipv6_advertise_address_and_sans(make_cluster):
    cluster = make_cluster([MemberInput(h) for h in ("fd00::6", "fd00::7", "fd00::8")])
    documents = rendered_kubeadmcfg(cluster)
    assert documents[0]["localAPIEndpoint"] == {"advertiseAddress": "fd00::6"}
    assert local_etcd(documents)["serverCertSANs"] == ["fd00::6"]
    extra = {a["name"]: a["value"] for a in local_etcd(documents)["extraArgs"]}
    assert extra["listen-client-urls"] == "https://[fd00::6]:2379"


# --- Step 1: kubelet as etcd's service manager -------------------------------------------------


def test_kubelet_configuration_is_the_guides(cluster):
    text = render(kc.KUBELET_CONFIG_TEMPLATE, **kc.kubelet_contexts(cluster))
    assert yaml.safe_load(text) == yaml.safe_load(KUBELET_CONF)


def test_kubelet_configuration_follows_the_settings(make_cluster, make_settings):
    settings = make_settings(
        kubelet_cgroup_driver="cgroupfs",
        kubelet_container_runtime_endpoint="unix:///run/crio/crio.sock",
    )
    text = render(
        kc.KUBELET_CONFIG_TEMPLATE, **kc.kubelet_contexts(make_cluster(settings_=settings))
    )
    want = yaml.safe_load(KUBELET_CONF) | {
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": "unix:///run/crio/crio.sock",
    }
    assert yaml.safe_load(text) == want


def significant_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_kubelet_drop_in_is_the_guides(cluster):
    text = render(kc.KUBELET_DROPIN_TEMPLATE, **kc.kubelet_contexts(cluster))
    assert significant_lines(text) == significant_lines(KUBELET_DROPIN)
    assert kc.KUBELET_DROPIN_PATH.endswith("/kubelet.service.d/20-etcd-service-manager.conf")
    assert kc.KUBELET_CONFIG_PATH == "/etc/systemd/system/kubelet.service.d/kubelet.conf"


def test_kubelet_drop_in_runs_the_kubelet_found_on_path(cluster):
    text = render(
        kc.KUBELET_DROPIN_TEMPLATE, **kc.kubelet_contexts(cluster, "/usr/local/bin/kubelet")
    )
    assert exec_start(text) == ["/usr/local/bin/kubelet", f"--config={kc.KUBELET_CONFIG_PATH}"]


HOSTILE_TEXT = [
    "unix:///run/containerd/containerd.sock: # not a comment",
    'it\'s "quoted"',
    "- [a, b]: {c: d}",
    "yes",
    "100%$HOME `x` \\n",
    "*anchor &ref !tag",
]


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_free_text_in_the_kubelet_config_parses_back_unchanged(make_cluster, make_settings, value):
    settings = make_settings(kubelet_container_runtime_endpoint=value)
    context = kc.kubelet_contexts(make_cluster(settings_=settings))
    parsed = yaml.safe_load(render(kc.KUBELET_CONFIG_TEMPLATE, **context))
    assert parsed["containerRuntimeEndpoint"] == value
    context["manifests_dir"] = value  # the settings refuse such a path; the template copes
    parsed = yaml.safe_load(render(kc.KUBELET_CONFIG_TEMPLATE, **context))
    assert parsed["staticPodPath"] == value
    assert parsed["address"] == "127.0.0.1" and parsed["cgroupDriver"] == "systemd"


@pytest.mark.parametrize(
    "binary",
    ["/opt/kube bin/kubelet", "/opt/100%/kubelet", "/opt/$HOME/kubelet", '/opt/a"b\\c/kubelet'],
)
def test_the_drop_ins_exec_start_is_escaped_for_systemd(cluster, binary):
    text = render(kc.KUBELET_DROPIN_TEMPLATE, **kc.kubelet_contexts(cluster, binary))
    assert exec_start(text) == [binary, f"--config={kc.KUBELET_CONFIG_PATH}"]
    line = [line for line in text.splitlines() if line.startswith("ExecStart=")][-1]
    assert "%" not in line.replace("%%", "") and "$" not in line.replace("$$", "")


def test_systemd_command_refuses_words_spanning_lines():
    with pytest.raises(ValueError, match="lines"):
        kc.systemd_command(["/usr/bin/kubelet\n--evil"])


# --- Step 7 and the systemd runtime ---------------------------------------------------------


def exec_start(unit: str) -> list[str]:
    """The ExecStart command line of a unit, continuation lines joined, split as systemd does
    (the drop-in's first, empty ``ExecStart=`` only resets the list)."""
    joined = unit.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if line.startswith("ExecStart=")]
    line = [line for line in lines if line != "ExecStart="][-1]
    words = shlex.split(line.removeprefix("ExecStart="))
    return [word.replace("%%", "%").replace("$$", "$") for word in words]


@pytest.mark.parametrize("version", ["3.6.9-0", "3.5.21"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_systemd_unit_runs_kubeadms_command_with_the_binary(cluster, index, version):
    member = cluster.members[index]
    unit = render(kc.ETCD_UNIT_TEMPLATE, **kc.etcd_unit_context(cluster, member, version))
    assert exec_start(unit) == etcd_command(cluster, member, version, binary="/usr/bin/etcd")
    assert f"Description=etcd member {member.name}" in unit.splitlines()


def test_systemd_unit_gives_a_catching_up_member_time_to_start(make_cluster, make_settings):
    """Type=notify: etcd is ready once it caught up; systemd's default 90 s is too short
    for a large database, so the unit says how long (bounded, from etcd_start_timeout)."""
    cluster = make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    member = cluster.members[0]
    unit = render(kc.ETCD_UNIT_TEMPLATE, **kc.etcd_unit_context(cluster, member, "3.5.21"))
    assert "Type=notify" in unit.splitlines()
    assert "TimeoutStartSec=900" in unit.splitlines()
    longer = make_cluster(settings_=make_settings(etcd_start_timeout=3600))
    unit = render(kc.ETCD_UNIT_TEMPLATE, **kc.etcd_unit_context(longer, member, "3.5.21"))
    assert "TimeoutStartSec=3600" in unit.splitlines()
    for bad in (30, "soon", 0):
        with pytest.raises(DeployInputError, match=f"etcd_start_timeout={bad!r}"):
            make_settings(etcd_start_timeout=bad)


def test_step_7_command_uses_this_members_config(make_cluster, make_settings):
    argv = shlex.split(kubeadm_etcd_local(make_cluster()))
    assert argv[3:6] == ["restart_static_pod", "start", "/etc/kubernetes/manifests/etcd.yaml"]
    assert argv[6] == "/etc/kubernetes/kubeadmcfg.yaml"
    assert "kubeadm init phase etcd local --config=" in argv[2]
    moved = make_cluster(settings_=make_settings(etcd_kubeadm_config_path="/srv/kubeadm.yaml"))
    assert shlex.split(kubeadm_etcd_local(moved))[6] == "/srv/kubeadm.yaml"


def test_runtime_commands_per_runtime(make_cluster, make_settings):
    systemd = runtime_commands(
        make_cluster(settings_=make_settings(etcd_runtime="systemd", etcd_version="distro"))
    )
    assert shlex.split(systemd.restart)[3:] == [
        "restart_etcd",
        "etcd",
        "/usr/bin/etcd",
        "dpkg:etcd-server",  # Debian's etcd: dpkg's checksums
    ]
    own = make_settings(
        etcd_runtime="systemd", etcd_version="distro", etcd_binary="/usr/local/bin/etcd"
    )
    assert runtime_commands(make_cluster(settings_=own)).restart == "systemctl restart etcd"
    chosen = make_settings(
        etcd_runtime="systemd", etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": "a" * 64}
    )
    argv = shlex.split(runtime_commands(make_cluster(settings_=chosen)).restart)
    assert argv[3:] == [
        "restart_etcd",
        "etcd",
        "/opt/etcd/v3.5.16/etcd",
        "/opt/etcd/archives/v3.5.16.sha256",
    ]
    assert systemd.logs.startswith("journalctl -u etcd -n 30 ")
    static_pod = runtime_commands(make_cluster())
    for mode in ("rewrite", "render", "bounce"):
        argv = shlex.split(static_pod.for_action(mode))
        assert argv[:2] == ["sh", "-c"] and argv[3] == "restart_static_pod"
        assert argv[4:] == [
            mode,
            "/etc/kubernetes/manifests/etcd.yaml",
            "/etc/kubernetes/kubeadmcfg.yaml",
            "unix:///var/run/containerd/containerd.sock",
            "/etc/kubernetes/tmp/etcd-deploy-parked",
            "120",
            "/etc/kubernetes/etcd-deploy/etcd.yaml.rendered",
        ]
    assert static_pod.for_action("bounce") == static_pod.bounce
    assert kc.manifest_path(make_cluster()) == "/etc/kubernetes/manifests/etcd.yaml"


# --- Hand-off to the control plane ------------------------------------------------------------


def test_external_etcd_block_for_the_control_plane(cluster):
    text = render(kc.EXTERNAL_ETCD_TEMPLATE, **kc.external_etcd_context(cluster))
    assert yaml.safe_load(text) == {
        "etcd": {
            "external": {
                "endpoints": [f"https://{host}:2379" for host in GUIDE_HOSTS],
                "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
                "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
            }
        }
    }


@pytest.mark.parametrize("api", ["v1beta4", "v1beta3"])
def test_a_joining_member_renders_the_live_list_and_state_existing(
    make_cluster, make_settings, api
):
    cluster = make_cluster(settings_=make_settings(kubeadm_api_version=api))
    live = "infra0=https://10.0.0.6:2380,infra2=https://10.0.0.8:2380"
    joining = dataclasses.replace(
        cluster.members[2], initial_cluster=live, initial_cluster_state="existing"
    )
    text = render(kc.KUBEADM_CONFIG_TEMPLATE, **kc.kubeadm_config_context(cluster, joining))
    (config,) = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ClusterConfiguration"]
    extra = config["etcd"]["local"]["extraArgs"]
    args = dict(extra) if isinstance(extra, dict) else {a["name"]: a["value"] for a in extra}
    assert args["initial-cluster"] == live and args["initial-cluster-state"] == "existing"
    unit = render(kc.ETCD_UNIT_TEMPLATE, **kc.etcd_unit_context(cluster, joining, "3.5.16"))
    assert "--initial-cluster-state=existing" in unit and f"--initial-cluster={live}" in unit


def test_metrics_on_the_members_address_reach_kubeadms_extra_args(make_cluster, make_settings):
    cluster = make_cluster(settings_=make_settings(etcd_metrics_address="member"))
    extra = local_etcd(rendered_kubeadmcfg(cluster, 1))["extraArgs"]
    wanted = {"name": "listen-metrics-urls", "value": "http://127.0.0.1:2381,http://10.0.0.7:2381"}
    assert wanted in extra
