"""The benchmark's pure parts: argument parsing, trace parsing, the report's ratios and targets.

The measurements need a test bed and are checked by running the benchmark; what turns
them into figures is checked here, since a wrong ratio or target would read as a real one.
"""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from bench.benchmark import INTRO, parse_connectors, parse_sizes
from bench.counting import Counts, parse_docker_calls, parse_sshd_log
from bench.figures import COMMANDS_PER_HOST, ConnectorFigures, SizeFigures, Target
from bench.report import markdown_table, report

SHIM_LOG = """\
container inspect etcd-bench-3-0
exec -i etcd-bench-3-0 sh
exec -i etcd-bench-3-1 sh
exec -i etcd-bench-3-0 sh
cp /tmp/pyinfra-upload etcd-bench-3-1:/etc/kubernetes/pki/etcd/peer.crt
"""

SSHD_LOG = """\
Connection from 10.231.73.1 port 41288 on 10.231.73.10 port 22 rdomain ""
Accepted key ED25519 SHA256:abc found at /home/deploy/.ssh/authorized_keys:1
Accepted publickey for deploy from 10.231.73.1 port 41288 ssh2: ED25519 SHA256:abc
User child is on pid 143
Starting session: command for deploy from 10.231.73.1 port 41288 id 0
  deploy : PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/sh -c true
Close session: user deploy from 10.231.73.1 port 41288 id 0
Starting session: subsystem 'sftp' for deploy from 10.231.73.1 port 41288 id 1
Starting session: command for deploy from 10.231.73.1 port 41288 id 2
"""


def connector(name: str, noop: float, floor: float, commands: int) -> ConnectorFigures:
    hosts = Counter({"host-0": commands, "host-1": commands - 1})
    counts = Counts(hosts, Counter(), 2)
    # pyinfra's own CPU: a quarter of each run
    return ConnectorFigures(name, [noop, 99.0, noop], [floor], counts, [noop / 4], [floor / 4])


def size_figures(size: int, noop: float) -> SizeFigures:
    return SizeFigures(
        size=size,
        cold_connector="docker",
        cold=[12.0, 15.0, 100.0],
        etcd_floor=[10.0],
        connectors=[connector("docker", noop, 2.0, 7), connector("ssh", noop * 2, 2.0, 5)],
        fresh_floor=[3.0, 5.0, 4.0],
    )


def table(body: str, heading: str) -> list[list[str]]:
    """The data rows, as cells, of the table after the paragraph starting with ``heading``."""
    paragraphs = body.split("\n\n")
    index = next(i for i, p in enumerate(paragraphs) if p.startswith(heading))
    lines = paragraphs[index + 1].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_sizes_default_shape_and_refusals():
    assert parse_sizes("3,5,7") == [3, 5, 7]
    assert parse_sizes(" 1, 9 ,") == [1, 9]
    for bad in ["", "0", "10", "3,3", "three"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_sizes(bad)


def test_connectors_are_docker_and_ssh_only():
    assert parse_connectors("docker,ssh") == ["docker", "ssh"]
    assert parse_connectors("ssh") == ["ssh"]
    for bad in ["", "local", "ssh,ssh"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_connectors(bad)


def test_the_shim_log_counts_exec_and_cp_per_container():
    counts = parse_docker_calls(SHIM_LOG)
    assert counts.commands == Counter({"etcd-bench-3-0": 2, "etcd-bench-3-1": 1})
    assert counts.transfers == Counter({"etcd-bench-3-1": 1})
    assert counts.other == 1


def test_the_sshd_log_counts_exec_requests_sftp_sessions_and_logins():
    counts = Counts()
    parse_sshd_log("etcd-bench-3-0", SSHD_LOG, counts)
    parse_sshd_log("etcd-bench-3-1", SSHD_LOG.split("User child")[0], counts)
    assert counts.commands == Counter({"etcd-bench-3-0": 2})
    assert counts.transfers == Counter({"etcd-bench-3-0": 1})
    assert counts.other == 2


def test_a_target_is_met_at_its_limit_and_not_above():
    assert str(Target(1.5, "×")) == "≤ 1.5×"
    assert str(COMMANDS_PER_HOST) == "≤ 6"
    assert Target(2, "×").met(2.0) == "yes"
    assert Target(2, "×").met(2.001) == "no"


def test_the_report_shows_medians_ratios_and_targets():
    body = report([size_figures(3, 4.0), size_figures(7, 5.0)], 3, 3, "a machine", 600)

    # Cold: median 15 s over both floors (4 s pyinfra on the fresh hosts + 10 s etcd), over
    # the pyinfra floor alone, and for context over etcd's alone.
    cold = ["3", "docker", "15.0 s", "4.00 s", "10.00 s", "1.07×", "≤ 2×", "yes"]
    cold += ["3.75×", "≤ 4×", "yes", "1.50×"]
    assert table(body, "Cold deploy")[0] == cold
    # No-op: median (not the 99 s outlier) over a 2 s pyinfra floor, per connector.
    assert table(body, "No-op rerun and pyinfra floor")[2:] == [
        ["7", "docker", "5.0 s", "2.00 s", "2.50×", "≤ 1.5×", "no"],
        ["7", "ssh", "10.0 s", "2.00 s", "5.00×", "≤ 1.5×", "no"],
    ]
    # Scaling: 7 members ÷ 3, per connector.
    assert "| Connector | No-op on 3 | No-op on 7 | 7 ÷ 3 " in body
    scaling = ["docker", "4.0 s", "5.0 s", "1.25×", "≤ 1.2×", "no", "1.00×", "1.25×", "1.00×"]
    assert table(body, "No-op rerun, largest")[0] == scaling
    # Commands: min–max over hosts, judged on the max.
    assert table(body, "Remote commands")[:2] == [
        ["3", "docker", "6–7", "≤ 6", "no", "0", "2"],
        ["3", "ssh", "4–5", "≤ 6", "yes", "0", "2"],
    ]
    assert body.endswith("Machine: a machine\n\nThe whole run (beds included) took 10.0 min.\n")


def test_cpu_not_measured_shows_as_a_dash():
    three, seven = size_figures(3, 4.0), size_figures(7, 5.0)
    for figures in (*three.connectors, *seven.connectors):
        figures.noop_cpu, figures.floor_cpu = [], []
    row = table(report([three, seven], 3, 3, "m", 60), "No-op rerun, largest")[0]
    assert row[-3:] == ["1.00×", "–", "–"]


def test_one_size_has_no_scaling_table():
    body = report([size_figures(3, 4.0)], 1, 1, "m", 60)
    assert "No-op on" not in body
    assert "Cold deploy (median of 1 fresh bed(s))" in body


def test_tables_line_up_and_the_intro_names_every_target():
    table = markdown_table(["a", "bbb"], [["cc", "d"]])
    assert table.splitlines() == ["| a  | bbb |", "|----|-----|", "| cc | d   |"]
    for target in ["≤ 1.5×", "≤ 2×", "≤ 4×", "≤ 1.2×", "≤ 6"]:
        assert target in INTRO
