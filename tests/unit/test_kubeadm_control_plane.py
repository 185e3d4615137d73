"""kubeadm init/join configs of the HA guide: parsed, both API versions, both topologies,
compared with the guide's examples (``guide_ha``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from etcd_cluster.controlplane import kubeadm as kcp
from etcd_cluster.etcd.kubeadm_config import external_etcd
from etcd_cluster.settings import LoadBalancerSettings, control_plane_settings_from_data
from tests.unit import guide_ha

LB_DNS, LB_PORT = "10.0.0.200", 6443
ETCD = ("10.0.0.6", "10.0.0.7", "10.0.0.8")
API_VERSIONS = ("v1beta4", "v1beta3")


@pytest.fixture
def cp_settings(group_defaults: dict[str, Any]):
    def make(stacked: bool, api_version: str, **data: Any):
        lb = LoadBalancerSettings(LB_DNS, LB_PORT, 6443, ("10.0.0.20:6443",), "", 51)
        values = {**group_defaults, "kubeadm_api_version": api_version, **data}
        return control_plane_settings_from_data(values.get, not stacked, lb)

    return make


def _init_docs(settings, etcd_block) -> list[dict[str, Any]]:
    text = kcp.render_init(
        **kcp.init_context(
            settings,
            token="abcdef.0123456789abcdef",
            advertise_address="10.0.0.20",
            apiserver_port=6443,
            vip=LB_DNS,
            external_etcd=etcd_block,
        )
    )
    return list(yaml.safe_load_all(text))


def _seed(text: str) -> dict[str, Any]:
    for placeholder, value in {
        "LOAD_BALANCER_DNS": LB_DNS,
        "LOAD_BALANCER_PORT": str(LB_PORT),
        **{f"ETCD_{i}_IP": ip for i, ip in enumerate(ETCD)},
    }.items():
        text = text.replace(placeholder, value)
    return yaml.safe_load(text)


def _as_in_seed(ours: dict[str, Any], seed: dict[str, Any]) -> None:
    """Every field the guide sets has the guide's value in ours (API version and the
    ``stable`` kubernetesVersion aside)."""
    for key, value in seed.items():
        if key in ("apiVersion", "kubernetesVersion"):
            continue
        assert ours[key] == value, key


@pytest.fixture
def etcd_block(make_cluster) -> dict[str, Any]:
    return external_etcd(make_cluster())


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_external_topology_init_matches_the_guide(cp_settings, etcd_block, api_version):
    settings = cp_settings(stacked=False, api_version=api_version)
    init, cluster = _init_docs(settings, etcd_block)
    assert init["apiVersion"] == cluster["apiVersion"] == f"kubeadm.k8s.io/{api_version}"
    assert init["kind"] == "InitConfiguration"
    assert init["bootstrapTokens"][0]["token"] == "abcdef.0123456789abcdef"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.20", "bindPort": 6443}
    assert cluster["kind"] == "ClusterConfiguration"
    assert cluster["kubernetesVersion"] == "v1.33.2"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    _as_in_seed(cluster, _seed(guide_ha.EXTERNAL_CLUSTER_CONFIGURATION))


@pytest.mark.parametrize("api_version", API_VERSIONS)
def test_stacked_topology_init_matches_the_guide(cp_settings, api_version):
    settings = cp_settings(stacked=True, api_version=api_version)
    _, cluster = _init_docs(settings, None)
    _as_in_seed(cluster, _seed(guide_ha.STACKED_CLUSTER_CONFIGURATION))
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}


def test_external_load_balancer_endpoint_and_pki_dir(cp_settings):
    settings = cp_settings(
        stacked=True,
        api_version="v1beta4",
        k8s_control_plane_endpoint="api.example.net:443",
        k8s_pki_dir="/srv/pki",
    )
    _, cluster = _init_docs(settings, None)
    assert cluster["controlPlaneEndpoint"] == "api.example.net:443"
    assert cluster["apiServer"]["certSANs"] == ["api.example.net", LB_DNS]
    assert cluster["certificatesDir"] == "/srv/pki"


def _guide_join() -> dict[str, Any]:
    """The guide's join command as the JoinConfiguration it stands for."""
    words = guide_ha.CONTROL_PLANE_JOIN.split()
    flags = dict(re.findall(r"--([a-z-]+) (\S+)", guide_ha.CONTROL_PLANE_JOIN))
    return {
        "endpoint": words[3],
        "token": flags["token"],
        "hash": flags["discovery-token-ca-cert-hash"],
        "control_plane": "--experimental-control-plane" in words,
    }


@pytest.mark.parametrize("api_version", API_VERSIONS)
@pytest.mark.parametrize("control_plane", [True, False])
def test_join_configuration_matches_the_guides_join_command(
    cp_settings, api_version, control_plane
):
    guide = _guide_join()
    settings = cp_settings(
        stacked=False, api_version=api_version, k8s_control_plane_endpoint=guide["endpoint"]
    )
    text = kcp.render_join(
        **kcp.join_context(
            settings,
            token=guide["token"],
            ca_cert_hash=guide["hash"],
            control_plane=control_plane,
            advertise_address="10.0.0.21",
            apiserver_port=6443,
        )
    )
    (join,) = yaml.safe_load_all(text)
    assert join["apiVersion"] == f"kubeadm.k8s.io/{api_version}"
    assert join["kind"] == "JoinConfiguration"
    assert join["discovery"] == {
        "bootstrapToken": {
            "apiServerEndpoint": guide["endpoint"],
            "token": guide["token"],
            "caCertHashes": [guide["hash"]],
        }
    }
    if control_plane:
        assert guide["control_plane"]
        assert join["controlPlane"] == {
            "localAPIEndpoint": {"advertiseAddress": "10.0.0.21", "bindPort": 6443}
        }
    else:
        assert "controlPlane" not in join


def test_bootstrap_tokens_have_kubeadms_format():
    tokens = {kcp.new_bootstrap_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", t) for t in tokens)
