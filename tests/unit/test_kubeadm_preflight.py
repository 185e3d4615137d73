"""kubeadm's preflight rules and the control-plane settings (no hosts)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from etcd_cluster.controlplane import preflight as kpf
from etcd_cluster.errors import DeployInputError
from etcd_cluster.settings import LoadBalancerSettings, control_plane_settings_from_data

READY = [
    "kubeadm=v1.33.2",
    "kubelet=Kubernetes v1.33.2",
    "socket=/run/containerd/containerd.sock",
    "swap=0",
    "listen=0.0.0.0:22",
    "listen=[::]:22",
    "endpoint=open",
]
ARGS: dict[str, Any] = {
    "control_plane": True,
    "stacked": False,
    "apiserver_port": 6443,
    "endpoint": "10.0.0.200:6443",
}


def test_a_ready_host_has_no_refusals():
    survey = kpf.parse_survey(READY)
    assert survey.kubeadm == "v1.33.2" and survey.kubelet == "v1.33.2"
    assert survey.listening == {22}
    assert kpf.refusals(survey, "1.33.2", **ARGS) == []


def test_a_bare_host_is_refused_with_every_fix():
    survey = kpf.parse_survey(["kubeadm=", "kubelet=", "swap=1", "listen=0.0.0.0:10250"])
    problems = kpf.refusals(survey, "1.33.2", **ARGS)
    assert problems == [
        "kubeadm is not installed: install kubeadm 1.33.2 (pkgs.k8s.io)",
        "kubelet is not installed: install kubelet 1.33.2 (pkgs.k8s.io)",
        "no container runtime (no containerd, CRI-O or cri-dockerd socket): install one",
        "swap is on: run swapoff -a and remove swap from /etc/fstab",
        "port(s) 10250 already in use: stop what listens there",
        "the control plane endpoint 10.0.0.200:6443 does not answer (time-out or "
        "unreachable): check the load balancer",
    ]


def test_version_mismatch_and_stacked_ports():
    lines = [*READY, "kubeadm=v1.32.0", "listen=127.0.0.1:2379"]
    survey = kpf.parse_survey([line for line in lines if line != "kubeadm=v1.33.2"])
    problems = kpf.refusals(survey, "1.33.2", **{**ARGS, "stacked": True})
    assert problems == [
        "kubeadm is v1.32.0, k8s_version is 1.33.2: install kubeadm 1.33.2",
        "port(s) 2379 already in use: stop what listens there",
    ]
    # A host that already joined legitimately listens on those ports.
    joined = kpf.parse_survey([*READY, "listen=0.0.0.0:10250", "joined=yes", "registered=yes"])
    assert kpf.refusals(joined, "1.33.2", **ARGS) == []
    lost = kpf.parse_survey([*READY, "joined=yes"])
    assert "run `kubeadm reset -f` on it" in kpf.refusals(lost, "1.33.2", **ARGS)[0]


def test_workers_only_need_the_kubelet_port():
    survey = kpf.parse_survey([*READY, "listen=0.0.0.0:6443"])
    assert kpf.refusals(survey, "1.33.2", **{**ARGS, "control_plane": False}) == []


def test_survey_script_runs_under_a_real_shell():
    script = kpf.survey_script("127.0.0.1", 1)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    survey = kpf.parse_survey(result.stdout.splitlines())
    assert survey.endpoint_answers is True  # refused: fine before the apiserver runs
    assert "endpoint=refused" in result.stdout
    assert isinstance(survey.swap_devices, int)


LB = LoadBalancerSettings("10.0.0.200", 8443, 6443, ("10.0.0.7:6443",), "", 51)


@pytest.fixture
def cp_settings(group_defaults: dict[str, Any]):
    def make(has_etcd: bool = True, lb: LoadBalancerSettings | None = LB, **data: Any):
        values = {**group_defaults, **data}
        return control_plane_settings_from_data(values.get, has_etcd, lb)

    return make


def test_control_plane_defaults(cp_settings):
    s = cp_settings()
    assert s.control_plane_endpoint == "10.0.0.200:8443"
    assert s.etcd_topology == "external"
    assert cp_settings(has_etcd=False).etcd_topology == "stacked"
    assert cp_settings(k8s_control_plane_endpoint="lb.example:443").control_plane_endpoint == (
        "lb.example:443"
    )
    assert cp_settings(k8s_version="v1.32.1").version == "1.32.1"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"k8s_version": "stable"}, "k8s_version='stable'"),
        ({"k8s_pod_subnet": "10.244.0.1/16"}, "k8s_pod_subnet='10.244.0.1/16'"),
        ({"k8s_etcd_topology": "both"}, "k8s_etcd_topology='both'"),
        ({"k8s_run_kubeadm": "yes"}, "k8s_run_kubeadm='yes'"),
        ({"k8s_control_plane_endpoint": "lb.example"}, "must be address:port"),
    ],
)
def test_bad_control_plane_settings_are_refused(cp_settings, data, expected):
    with pytest.raises(DeployInputError) as error:
        cp_settings(**data)
    assert expected in str(error.value)


def test_external_topology_needs_the_etcd_group(cp_settings):
    with pytest.raises(DeployInputError, match="needs the etcd group"):
        cp_settings(has_etcd=False, k8s_etcd_topology="external")


def test_no_endpoint_without_lb_is_refused(cp_settings):
    with pytest.raises(DeployInputError, match="k8s_control_plane_endpoint is empty"):
        cp_settings(lb=None)
