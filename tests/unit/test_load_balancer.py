"""The load balancer's settings, configs, refusals and shell pieces (HA guide, no hosts)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from etcd_cluster.engine.templates import render
from etcd_cluster.errors import DeployInputError
from etcd_cluster.loadbalancer import config as lb
from etcd_cluster.settings import LoadBalancerSettings, load_balancer_settings_from_data

VIP = "10.0.0.200"


@pytest.fixture
def lb_settings(group_defaults: dict[str, Any]):
    def make(control_plane: tuple[str, ...] = ("10.0.0.7", "10.0.0.8"), **data: Any):
        values = {**group_defaults, "k8s_lb_vip": VIP, **data}
        return load_balancer_settings_from_data(values.get, control_plane)

    return make


def test_backends_default_to_the_control_plane_hosts(lb_settings):
    s = lb_settings()
    assert s.backends == ("10.0.0.7:6443", "10.0.0.8:6443")
    assert (s.lb_port, s.apiserver_port, s.vrrp_router_id) == (6443, 6443, 51)
    assert lb_settings(("fd00::7",)).backends == ("[fd00::7]:6443",)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"k8s_lb_vip": ""}, "k8s_lb_vip=''"),
        ({"k8s_lb_vip": "lb.example"}, "k8s_lb_vip='lb.example'"),
        ({"k8s_apiserver_backends": ["10.0.0.7"]}, "'10.0.0.7' must be address:port"),
        ({"k8s_apiserver_backends": ["fd00::7:6443"]}, "must be address:port"),
        ({"k8s_apiserver_backends": ["10.0.0.7:0"]}, "out of range"),
        ({"k8s_apiserver_backends": ["a:1", "a:1"]}, "lists one twice"),
        ({"k8s_lb_port": "x"}, "k8s_lb_port='x'"),
        ({"k8s_lb_vrrp_router_id": 256}, "k8s_lb_vrrp_router_id=256"),
        ({"k8s_lb_vrrp_interface": "eth0; rm"}, "is not an interface name"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(lb_settings, data, expected):
    with pytest.raises(DeployInputError, match=None) as error:
        lb_settings(**data)
    assert expected in str(error.value)


def test_no_backends_at_all_is_refused(lb_settings):
    with pytest.raises(DeployInputError, match="no control_plane group"):
        lb_settings(())


def test_ipv6_backend_in_brackets(lb_settings):
    assert lb_settings(k8s_apiserver_backends=["[fd00::7]:6443"]).backends == ("[fd00::7]:6443",)


def test_haproxy_config_is_tcp_round_robin_with_https_healthz_checks(lb_settings):
    text = lb.render_haproxy(lb_settings(k8s_lb_port=8443))
    assert "bind *:8443" in text
    backend = text.split("backend apiserver", 1)[1]
    for line in (
        "mode tcp",
        "balance roundrobin",
        "option httpchk",
        "http-check connect ssl",
        "http-check send meth GET uri /healthz",
        "http-check expect status 200",
        "server apiserver0 10.0.0.7:6443 check verify none",
        "server apiserver1 10.0.0.8:6443 check verify none",
    ):
        assert f"    {line}\n" in backend, line
    assert "mode http" not in text


def test_keepalived_config_tracks_haproxy_and_holds_the_vip(lb_settings):
    s = lb_settings()
    first = lb.render_keepalived(s, 0, "eth0", 24)
    second = lb.render_keepalived(s, 1, "eth0", 24)
    assert "priority 150" in first and "priority 149" in second
    for text in (first, second):
        assert "state BACKUP" in text
        assert "interface eth0" in text
        assert "virtual_router_id 51" in text
        assert f"{VIP}/24 dev eth0" in text
        assert 'script "/etc/keepalived/check_haproxy.sh"' in text
        assert "track_script {\n        check_haproxy\n    }" in text


def test_vrrp_interface_is_the_one_holding_the_address():
    devices = {
        "lo": {"ipv4": {"address": "127.0.0.1", "mask_bits": 8}},
        "eth0": {
            "ipv4": {
                "address": "10.0.0.5",
                "mask_bits": 24,
                "additional_ips": [{"address": "10.0.1.9", "mask_bits": 25}],
            }
        },
        "eth1": {"ipv6": {"address": "fd00::9", "mask_bits": 64}},
    }
    assert lb.vrrp_interface(devices, "10.0.0.5") == ("eth0", 24)
    assert lb.vrrp_interface(devices, "10.0.1.9") == ("eth0", 25)
    assert lb.vrrp_interface(devices, "fd00:0::9") == ("eth1", 64)
    assert lb.vrrp_interface(devices, "10.9.9.9") is None


def test_vip_outside_the_interface_network_gets_a_host_prefix():
    assert lb.vip_prefix("10.0.0.200", "10.0.0.5", 24) == 24
    assert lb.vip_prefix("192.168.1.1", "10.0.0.5", 24) == 32
    assert lb.vip_prefix("fd00::200", "fd00::5", 64) == 64


def _settings(**changes: Any) -> LoadBalancerSettings:
    base = LoadBalancerSettings(VIP, 6443, 6443, ("10.0.0.7:6443",), "", 51)
    return LoadBalancerSettings(**{**base.__dict__, **changes})


def test_refusals_name_the_host():
    hosts = [lb.LbHost("lb-0", "10.0.0.5"), lb.LbHost("lb-1", "10.0.0.200")]
    problems = lb.lb_refusals(_settings(), hosts, [])
    assert problems == ["host lb-1: k8s_lb_vip=10.0.0.200 is this host's own address"]
    v6 = lb.lb_refusals(_settings(), [lb.LbHost("lb-0", "fd00::5")], [])
    assert "different IP families" in v6[0]


def test_shared_apiserver_host_needs_another_lb_port():
    shared = [lb.LbHost("cp-0", "10.0.0.7")]
    assert "must differ from k8s_apiserver_port=6443" in lb.lb_refusals(_settings(), shared, [])[0]
    as_control_plane = lb.lb_refusals(
        _settings(backends=("10.0.0.9:6443",)), shared, [lb.LbHost("cp-0", "10.0.0.7")]
    )
    assert len(as_control_plane) == 1
    assert lb.lb_refusals(_settings(lb_port=8443), shared, shared) == []


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True)


def test_install_checked_moves_only_an_accepted_file(tmp_path: Path):
    (tmp_path / "cfg").write_text("old")
    (tmp_path / "staged").write_text("new")
    refused = _sh(lb.install_checked("grep -q good {path}", "staged", "cfg"), tmp_path)
    assert refused.returncode != 0
    assert (tmp_path / "cfg").read_text() == "old"
    assert not (tmp_path / "staged").exists()
    (tmp_path / "staged").write_text("good")
    assert _sh(lb.install_checked("grep -q good {path}", "staged", "cfg"), tmp_path).returncode == 0
    assert (tmp_path / "cfg").read_text() == "good"
    assert not (tmp_path / "staged").exists()


def test_check_script_follows_whether_something_listens(tmp_path: Path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        script = tmp_path / "check.sh"
        script.write_text(render(lb.CHECK_SCRIPT_TEMPLATE, address="127.0.0.1", port=port))
        assert subprocess.run(["bash", str(script)], check=False).returncode == 0
    assert subprocess.run(["bash", str(script)], check=False).returncode != 0


def test_check_script_context_matches_the_vip_family():
    assert lb.check_script_context(_settings()) == {"address": "127.0.0.1", "port": 6443}
    assert lb.check_script_context(_settings(vip="fd00::200"))["address"] == "::1"
