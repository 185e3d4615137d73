"""Small pieces of the kubeadm steps: CNI manifest checks and the CNI fact."""

from __future__ import annotations

from etcd_cluster.controlplane.kubeadm import cni_subnet_warning, is_url
from etcd_cluster.controlplane.kubeadm_ops import CniInSync

FLANNEL = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'


def test_cni_manifest_subnet_must_match_the_pod_subnet():
    assert cni_subnet_warning(FLANNEL, "10.244.0.0/16") == ""
    warning = cni_subnet_warning(FLANNEL, "192.168.0.0/16")
    assert "k8s_pod_subnet=192.168.0.0/16" in warning and "10.244.0.0/16" in warning
    assert cni_subnet_warning("kind: DaemonSet", "192.168.0.0/16") == ""  # names no network


def test_urls_are_applied_directly():
    assert is_url("https://example.net/cni.yaml")
    assert not is_url("manifests/cni.yaml")


def test_cni_fact_reads_kubectl_diffs_exit_code():
    fact = CniInSync()
    assert "diff -f /etc/kubernetes/cni.yaml" in fact.command("/etc/kubernetes/cni.yaml")
    assert fact.process(["0"]) is True
    assert fact.process(["1"]) is False
    assert fact.process([]) is False
