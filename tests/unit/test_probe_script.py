"""``probe_cluster.sh`` under a real shell, with a stand-in ``curl`` answering per endpoint.

The probe is what the quorum gate, the status table and the live member list are read from;
its output must keep one line per endpoint (tabs separate the fields, so a body's own tabs
and newlines go), each failed request's curl error on its own endpoint's line, and the
member list of a healthy endpoint before an unhealthy one. One curl runs every request at
once (``--parallel``), so errors come back as ``--write-out`` lines, in any order.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from etcd_cluster import scripts

FAKE_CURL = r"""#!/bin/sh
# Stand-in for one curl --parallel: transfers separated by --next, each "-o FILE -w FORMAT
# URL"; writes $FAKE/<host:port>/<last path word> to FILE, and FORMAT with %{exitcode} and
# %{errormsg} filled in to stdout, last transfer first (parallel ones end in any order).
# A request fails when its endpoint has a "down" file (exit 7, "Failed to connect to
# <host:port>") or a "<word>.fail" file ("<code> <message>"; the body is still written,
# as a transfer cut short). $FAKE/old: an old curl, which knows neither variable.
# $FAKE/broken: a curl that knows no --parallel. Refuses (exit 2) an invocation the probe
# must not make: --parallel, -s or --no-progress-meter not before the first URL, a transfer
# without -g, --max-time, -o or -w, -f on anything but (and missing on) the member list.
[ -e "$FAKE/broken" ] && { echo "curl: option --parallel: is unknown" >&2; exit 2; }
refuse() { echo "fake curl: $*" >&2; exit 2; }
replace() { # $replaced: $1 with every $2 replaced by $3
    replaced= rest=$1
    while :; do
        case "$rest" in
        *"$2"*) replaced=$replaced${rest%%"$2"*}$3; rest=${rest#*"$2"} ;;
        *) replaced=$replaced$rest; break ;;
        esac
    done
}
nl='
'
said= status=0 globals= first=yes
transfer() {
    [ -n "$url" ] || refuse "a transfer without a URL"
    [ -n "$g" ] && [ -n "$max" ] && [ -n "$out" ] && [ -n "$format" ] \
        || refuse "$url: -g, --max-time, -o and -w on every transfer"
    hostport=${url#https://}; hostport=${hostport%%/*}; word=${url##*/}
    [ "$word" = list ] && [ -z "$fail" ] && refuse "no -f on the member list"
    [ -z "$fail" ] || [ "$word" = list ] || refuse "-f on $url"
    dir=$FAKE/$hostport code=0 message=
    if [ -e "$dir/down" ]; then
        code=7 message="Failed to connect to $hostport"
    else
        [ -f "$dir/$word" ] && cp "$dir/$word" "$out"
        [ -f "$dir/$word.fail" ] && read -r code message <"$dir/$word.fail"
    fi
    [ "$code" = 0 ] || status=$code
    [ -e "$FAKE/old" ] && code= message=
    [ "$code" = 0 ] && message=
    replace "$format" '%{exitcode}' "$code"
    replace "$replaced" '%{errormsg}' "$message"
    replace "$replaced" '\n' "$nl"
    said=$replaced$said
}
start() { url= g= max= out= format= fail= prev=; }
start
for arg in "$@"; do
    case "$prev" in
    -o) out=$arg ;;
    -w) format=$arg ;;
    --max-time) max=$arg ;;
    esac
    case "$prev" in
    -o | -w | --max-time | --cacert | --cert | --key | -X | -d | --parallel-max) prev=; continue ;;
    esac
    case "$arg" in
    --next) transfer; start; continue ;;
    --parallel | -Z | -s | --no-progress-meter) [ -n "$first" ] && globals="$globals $arg" ;;
    -g) g=yes ;;
    -f) fail=yes ;;
    https://*) url=$arg first= ;;
    esac
    prev=$arg
done
transfer
case "$globals" in
*--parallel*-s*--no-progress-meter* | *--parallel*--no-progress-meter*-s*) ;;
*) refuse "--parallel, --no-progress-meter, -s before the first URL, not: $globals" ;;
esac
printf '%s' "$said"
exit "$status"
"""

ENDPOINTS = ["https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"]


def probe(tmp_path: Path, with_members: str = "members") -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE": str(tmp_path),
        "TMPDIR": str(temp),
    }
    argv = ["sh", str(scripts.path("probe_cluster")), "3", "ca", "cert", "key", with_members]
    done = subprocess.run(
        [*argv, *ENDPOINTS], env=env, capture_output=True, text=True, check=True, timeout=30
    )
    assert "fake curl" not in done.stderr, done.stderr
    assert not list(temp.iterdir()), "temporary files left behind"
    return done.stdout.splitlines()


def endpoint(tmp_path: Path, index: int, **bodies: str) -> Path:
    directory = tmp_path / f"10.0.0.{index}:2379"
    directory.mkdir(parents=True, exist_ok=True)
    for word, body in bodies.items():
        (directory / word.replace("_", ".")).write_text(body)
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


def test_each_error_goes_to_its_own_endpoint_and_question_only(tmp_path):
    (endpoint(tmp_path, 1) / "down").write_text("")
    endpoint(tmp_path, 2, health='{"health":"true"}', status_fail="28 Operation timed out")
    endpoint(tmp_path, 2, list='{"members":[]}', alarm_fail="52 Empty reply from server")
    endpoint(tmp_path, 3)  # answered nothing, failed nothing
    assert probe(tmp_path) == [
        f"{ENDPOINTS[0]}\tcurl: (7) Failed to connect to 10.0.0.1:2379\t"
        "curl: (7) Failed to connect to 10.0.0.1:2379",
        f'{ENDPOINTS[1]}\t{{"health":"true"}}\tcurl: (28) Operation timed out',
        f"{ENDPOINTS[2]}\t\t",
        f'members\t{ENDPOINTS[1]}\t{{"members":[]}}',
        f"alarms\t{ENDPOINTS[1]}\tcurl: (52) Empty reply from server",
    ]


def test_a_member_list_cut_short_is_not_taken(tmp_path):
    endpoint(tmp_path, 1, health='{"health":"true"}', list='{"members":[{"ID"', alarm="{}")
    endpoint(tmp_path, 1, list_fail="28 Operation timed out after 3000 milliseconds")
    endpoint(tmp_path, 2, health='{"health":"true"}', list='{"members":[]}', alarm="{}")
    (endpoint(tmp_path, 3) / "down").write_text("")
    assert probe(tmp_path)[3:] == [
        f'members\t{ENDPOINTS[1]}\t{{"members":[]}}',
        f"alarms\t{ENDPOINTS[1]}\t{{}}",
    ]


def test_a_curl_without_error_variables_leaves_the_errors_empty(tmp_path):
    (tmp_path / "old").write_text("")
    endpoint(tmp_path, 1, health='{"health":"true"}', status="{}", list="{}", alarm="{}")
    (endpoint(tmp_path, 2) / "down").write_text("")
    (endpoint(tmp_path, 3) / "down").write_text("")
    assert probe(tmp_path) == [
        f'{ENDPOINTS[0]}\t{{"health":"true"}}\t{{}}',
        f"{ENDPOINTS[1]}\t\t",
        f"{ENDPOINTS[2]}\t\t",
        f"members\t{ENDPOINTS[0]}\t{{}}",
        f"alarms\t{ENDPOINTS[0]}\t{{}}",
    ]


def test_a_curl_that_cannot_run_is_every_endpoints_error(tmp_path):
    (tmp_path / "broken").write_text("")
    error = "curl: option --parallel: is unknown"
    assert probe(tmp_path) == [f"{ep}\t{error}\t{error}" for ep in ENDPOINTS]
