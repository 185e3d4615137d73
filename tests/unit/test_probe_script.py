"""``probe_cluster.sh`` under a real shell, with a stand-in ``curl`` answering per endpoint.

The probe is what the quorum gate, the status table and the live member list are read from;
its output must keep one line per endpoint (tabs separate the fields, so a body's own tabs
and newlines go), the first curl error for an endpoint that did not answer, and the member
list of a healthy endpoint before an unhealthy one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from etcd_cluster import scripts

FAKE_CURL = r"""#!/bin/sh
# Stand-in for curl: for each "-o FILE URL", writes $FAKE/<host:port>/<last path word> to
# FILE; an endpoint with a "down" file fails like an unreachable one (exit 7, one line).
out=
for arg in "$@"; do
    case "$arg" in
    https://*)
        hostport=${arg#https://}; hostport=${hostport%%/*}; word=${arg##*/}
        if [ -e "$FAKE/$hostport/down" ]; then
            echo "curl: (7) Failed to connect to $hostport" >&2
            printf 'second line\n' >&2
            exit 7
        fi
        [ -f "$FAKE/$hostport/$word" ] && cp "$FAKE/$hostport/$word" "$out"
        ;;
    esac
    [ "$prev" = -o ] && out=$arg
    prev=$arg
done
exit 0
"""

ENDPOINTS = ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"]


def probe(tmp_path: Path, with_members: str = "members") -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE": str(tmp_path)}
    argv = ["sh", str(scripts.path("probe_cluster")), "3", "ca", "cert", "key", with_members]
    done = subprocess.run(
        [*argv, *ENDPOINTS], env=env, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.splitlines()


def endpoint(tmp_path: Path, index: int, **bodies: str) -> Path:
    directory = tmp_path / f"10.0.0.{index}:2379"
    directory.mkdir(parents=True, exist_ok=True)
    for word, body in bodies.items():
        (directory / word).write_text(body)
    return directory


def test_one_line_per_endpoint_in_order_and_the_members_of_a_healthy_one(tmp_path):
    endpoint(tmp_path, 1, health='{"health":"false","reason":"RAFT NO LEADER"}\n', status="{}")
    endpoint(tmp_path, 1, list='{"members":["one"]}', alarm='{"alarms":[]}')
    endpoint(tmp_path, 2, health='{"health":"true"}', status='{"leader":"2",\n\t"version":"3"}')
    endpoint(tmp_path, 2, list='{"members":\n["one",\t"two"]}\n', alarm='{"header":{}}')
    (endpoint(tmp_path, 3) / "down").write_text("")
    lines = probe(tmp_path)
    assert lines == [
        f'{ENDPOINTS[0]}\t{{"health":"false","reason":"RAFT NO LEADER"}}\t{{}}',
        f'{ENDPOINTS[1]}\t{{"health":"true"}}\t{{"leader":"2","version":"3"}}',
        f"{ENDPOINTS[2]}\tcurl: (7) Failed to connect to 10.0.0.3:2379\t"
        "curl: (7) Failed to connect to 10.0.0.3:2379",
        f'members\t{ENDPOINTS[1]}\t{{"members":["one","two"]}}',
        f'alarms\t{ENDPOINTS[1]}\t{{"header":{{}}}}',
    ]


def test_without_members_only_the_endpoint_lines(tmp_path):
    for index in (1, 2, 3):
        endpoint(tmp_path, index, health='{"health":"true"}', status="{}", list="{}")
    expected = [f'{ep}\t{{"health":"true"}}\t{{}}' for ep in ENDPOINTS]
    assert probe(tmp_path, with_members="") == expected


def test_an_unhealthy_endpoint_still_lists_the_members_when_none_is_healthy(tmp_path):
    endpoint(tmp_path, 1)  # answered nothing at all
    endpoint(tmp_path, 2, health='{"health":"false"}', list='{"members":[]}')
    (endpoint(tmp_path, 3) / "down").write_text("")
    lines = probe(tmp_path)
    assert lines[0] == f"{ENDPOINTS[0]}\t\t"
    assert lines[3:] == [f'members\t{ENDPOINTS[1]}\t{{"members":[]}}', f"alarms\t{ENDPOINTS[1]}\t"]
