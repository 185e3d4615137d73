"""The stand-ins' own logic, without containers (tests/standins).

The stand-in kubeadm must compute etcd's command exactly as the reference's worked
oracle (kubeadm-etcd-reference.md 4.4) and as this deploy's flags for the same config;
the stand-in kubelet's file source must treat the static pod directory as the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from etcd_cluster.engine.templates import render
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.flags import etcd_command
from tests.standins import crictl, kubeadm, kubelet
from tests.unit.conftest import ClusterFactory, SettingsFactory
from tests.unit.guide import ORACLE_INFRA0_COMMAND, ORACLE_PRE36_FLAGS


def rendered(cluster: Cluster) -> str:
    context = kc.kubeadm_config_context(cluster, cluster.first)
    return render(kc.KUBEADM_CONFIG_TEMPLATE, **context)


def standin_command(text: str) -> list[str]:
    init_config, cluster_config = kubeadm.load_config(text, "v1.34.1")
    return kubeadm.etcd_command(init_config, cluster_config)


def test_kubeadm_standin_matches_reference_oracle(
    make_cluster: ClusterFactory, make_settings: SettingsFactory
):
    cluster = make_cluster(settings_=make_settings(etcd_image_tag="3.6.9-0"))
    assert standin_command(rendered(cluster)) == ORACLE_INFRA0_COMMAND


def test_kubeadm_standin_uses_experimental_flags_below_etcd_36(cluster: Cluster):
    command = standin_command(rendered(cluster))
    assert set(ORACLE_PRE36_FLAGS) <= set(command)
    assert not any(arg.startswith("--feature-gates") for arg in command)


def test_kubeadm_standin_agrees_with_the_deploys_flags(
    make_cluster: ClusterFactory, make_settings: SettingsFactory
):
    for api in ("v1beta4", "v1beta3"):
        settings = make_settings(
            kubeadm_api_version=api, etcd_extra_args={"quota-backend-bytes": "8589934592"}
        )
        cluster = make_cluster(settings_=settings)
        assert standin_command(rendered(cluster)) == etcd_command(
            cluster, cluster.first, "3.5.24-0"
        )


def test_kubeadm_standin_refuses_api_versions_its_version_lacks(cluster: Cluster):
    text = rendered(cluster)
    for version, refused in (("v1.30.0", True), ("v1.31.0", False), ("v1.36.0", False)):
        try:
            kubeadm.load_config(text, version)
        except kubeadm.ConfigError:
            assert refused, version
        else:
            assert not refused, version
    v1beta3 = text.replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")
    try:
        kubeadm.load_config(v1beta3, "v1.36.0")
    except kubeadm.ConfigError:
        pass
    else:
        raise AssertionError("v1beta3 accepted by kubeadm 1.36")


def test_kubeadm_standin_writes_private_manifest(cluster: Cluster, tmp_path: Path):
    init_config, cluster_config = kubeadm.load_config(rendered(cluster), "v1.34.1")
    path = kubeadm.write_manifest(kubeadm.etcd_pod(init_config, cluster_config), tmp_path / "m")
    assert oct(os.stat(tmp_path / "m").st_mode & 0o777) == "0o700"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    pod = yaml.safe_load(path.read_text())
    assert pod["metadata"] == {
        "annotations": {
            "kubeadm.kubernetes.io/etcd.advertise-client-urls": "https://10.0.0.6:2379"
        },
        "labels": {"component": "etcd", "tier": "control-plane"},
        "name": "etcd",
        "namespace": "kube-system",
    }
    assert pod["spec"]["containers"][0]["image"] == "registry.k8s.io/etcd:3.5.24-0"
    assert os.listdir(tmp_path / "m") == ["etcd.yaml"]


def write_pod(path: Path, name: str = "etcd", comment: str = "") -> None:
    pod = {"metadata": {"name": name}, "spec": {"containers": [{"name": "e", "command": ["x"]}]}}
    path.write_text(comment + yaml.safe_dump(pod))


def test_kubelet_file_source_models_the_real_one(tmp_path: Path):
    source = kubelet.FileSource(tmp_path, "node", resync=3600)
    write_pod(tmp_path / "etcd.yaml")
    (first,) = source.poll().values()
    assert first.name == "etcd-node" and first.key == "default/etcd-node"
    write_pod(tmp_path / ".etcd.yaml")  # dot files are not manifests
    write_pod(tmp_path / "etcd.yaml", comment="# only a comment\n")
    assert list(source.poll()) == [first.uid]
    write_pod(tmp_path / "etcd.yaml.parked")  # same pod name: takes the key, new UID
    (parked,) = source.poll().values()
    assert parked.path.endswith("etcd.yaml.parked") and parked.uid != first.uid
    (tmp_path / "etcd.yaml.parked").unlink()  # deletes the key: no pod until a re-list
    assert source.poll() == {}
    source.last_relist = -1e9
    assert list(source.poll()) == [first.uid]
    write_pod(tmp_path / "other.yaml", name="other")  # another name: a second pod
    assert len(source.poll()) == 2


def test_crictl_times_are_go_rfc3339nano():
    assert crictl.rfc3339(0) == "0001-01-01T00:00:00Z"
    assert crictl.rfc3339(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert crictl.rfc3339(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
