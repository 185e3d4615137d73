"""The remote scripts under ``etcd_cluster/scripts`` run under a real ``sh``, with stand-ins.

``restart_static_pod`` is run against stand-in ``kubeadm`` and ``crictl`` commands and a
stand-in kubelet (a thread here that watches the manifest directory the way kubelet
does: every file whose name does not start with a dot is a pod; a changed or removed
manifest stops its container after a delay, a new one starts a new container after
another). They model timing and failure, not the real tools' every behaviour.
``retire_static_pod`` runs against the same stand-ins. ``observe_etcd`` is run against
a real process standing in for etcd (its argv and start time are read from /proc) and
real certificate files; ``prepare_join`` and a joining member's start against a
stand-in ``systemctl`` whose stop or enable can fail.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from etcd_cluster import scripts
from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_SERVER
from etcd_cluster.engine.observe import parse_observation
from etcd_cluster.engine.preflight import parse_survey
from etcd_cluster.membership.ops import retire_commands, start_command
from tests.unit.conftest import stand_in_tools

FAKE_KUBEADM = """#!/bin/sh
# Stand-in for kubeadm: "init phase etcd local --config=F" writes $MANIFEST from F.
[ -f "$STATE/kubeadm-fails" ] && { echo "error execution phase etcd: boom" >&2; exit 1; }
[ "$1 $2 $3" = "init phase etcd" ] || exit 2
config=${5#--config=}
{ echo "kind: Pod"; sed 's/^/# /' "$config"; } >"$MANIFEST.kubeadm-tmp"
mv "$MANIFEST.kubeadm-tmp" "$MANIFEST"
echo "[etcd] wrote $MANIFEST"
"""

FAKE_CRICTL = """#!/bin/sh
# Stand-in for crictl: "--runtime-endpoint EP ps -q ..." prints the running etcd container.
[ "$1" = --runtime-endpoint ] || exit 2
socket=${2#unix://}
[ -e "$socket" ] || {
    echo "validate service connection: dial unix $socket: connect: no such file or directory" >&2
    exit 1
}
cat "$STATE/running" 2>/dev/null
exit 0
"""


@dataclass
class StandInKubelet:
    """Watches ``manifests`` like kubelet: one container per manifest content, with delays."""

    manifests: Path
    running_file: Path
    stop_delay: float = 0.5
    start_delay: float = 1.0
    events: list[tuple[float, str, str]] = field(default_factory=list)
    pods_seen: set[str] = field(default_factory=set)  # file names kubelet treated as pods
    _stop: threading.Event = field(default_factory=threading.Event)

    def _pods(self) -> dict[str, str]:
        pods = {}
        for path in self.manifests.iterdir():
            if path.name.startswith(".") or ".kubeadm-tmp" in path.name:
                continue
            pods[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return pods

    def run(self) -> None:
        current = self._pods().get("etcd.yaml")
        container = "c0"
        self.running_file.write_text(container + "\n")
        serial = 0
        while not self._stop.is_set():
            pods = self._pods()
            self.pods_seen |= set(pods)
            wanted = pods.get("etcd.yaml")
            if wanted != current:
                if container:
                    time.sleep(self.stop_delay)
                    self.events.append((time.monotonic(), "stop", container))
                    self.running_file.write_text("")
                    container = ""
                current = wanted
                if wanted:
                    time.sleep(self.start_delay)
                    serial += 1
                    container = f"c{serial}"
                    self.events.append((time.monotonic(), "start", container))
                    self.running_file.write_text(container + "\n")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Node:
    root: Path
    manifest: Path
    config: Path
    park: Path
    socket: Path
    env: dict[str, str]
    kubelet: StandInKubelet


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    manifests = tmp_path / "etc/kubernetes/manifests"
    for directory in (bin_dir, state, manifests):
        directory.mkdir(parents=True)
    for name, text in (("kubeadm", FAKE_KUBEADM), ("crictl", FAKE_CRICTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    manifest = manifests / "etcd.yaml"
    manifest.write_text("kind: Pod\n# version 1\n")
    config = tmp_path / "etc/kubernetes/kubeadmcfg.yaml"
    config.write_text("version 2\n")
    socket = tmp_path / "containerd.sock"
    socket.write_text("")
    kubelet = StandInKubelet(manifests, state / "running")
    thread = threading.Thread(target=kubelet.run, daemon=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STATE": str(state),
        "MANIFEST": str(manifest),
    }
    thread.start()
    time.sleep(0.2)
    yield Node(
        tmp_path, manifest, config, tmp_path / "etc/kubernetes/tmp/parked", socket, env, kubelet
    )
    kubelet.stop()
    thread.join(timeout=5)


def restart(
    node: Node, mode: str, timeout: int = 30, *record: str
) -> tuple[subprocess.CompletedProcess, float]:
    argv = [
        "sh",
        str(scripts.path("restart_static_pod")),
        mode,
        str(node.manifest),
        str(node.config),
        f"unix://{node.socket}",
        str(node.park),
        str(timeout),
        *record,
    ]
    done = subprocess.run(
        argv, env=node.env, capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.monotonic()


def test_rewrite_returns_only_once_the_new_container_runs(node: Node):
    done, finished = restart(node, "rewrite")
    assert done.returncode == 0, done.stderr
    assert "etcd container c1 replaced c0" in done.stdout
    events = [(kind, container) for _, kind, container in node.kubelet.events]
    assert events == [("stop", "c0"), ("start", "c1")]
    started = node.kubelet.events[-1][0]
    assert finished >= started  # it waited for the container, not just for kubeadm
    assert "version 2" in node.manifest.read_text()


def test_an_unchanged_manifest_is_parked_outside_kubelets_directory_then_restored(node: Node):
    node.config.write_text("version 1\n")  # kubeadm writes what is there already
    before = node.manifest.read_bytes()
    done, _ = restart(node, "rewrite")
    assert done.returncode == 0, done.stderr
    assert [kind for _, kind, _ in node.kubelet.events] == ["stop", "start"]
    assert node.manifest.read_bytes() == before
    assert node.kubelet.pods_seen == {"etcd.yaml"}  # never a second pod
    assert list(node.park.iterdir()) == []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_records_what_kubeadm_rendered_and_waits_for_the_new_container(node: Node):
    record = node.root / "etc/kubernetes/etcd-deploy/etcd.yaml.rendered"
    done, _ = restart(node, "render", 30, str(record))
    assert done.returncode == 0, done.stderr
    assert [kind for _, kind, _ in node.kubelet.events] == ["stop", "start"]
    assert record.read_text() == f"{sha256(node.config)} {sha256(node.manifest)}\n"


def test_render_of_an_unchanged_manifest_records_it_and_restarts_nothing(node: Node):
    """A member whose manifest kubeadm wrote but never recorded (an older deploy, a run
    interrupted between kubeadm and the record): rendering again changes nothing."""
    node.config.write_text("version 1\n")  # kubeadm writes what is there already
    record = node.root / "record"
    done, _ = restart(node, "render", 30, str(record))
    assert done.returncode == 0, done.stderr
    assert "runs it already" in done.stdout
    assert node.kubelet.events == []
    assert record.read_text().split() == [sha256(node.config), sha256(node.manifest)]


def test_start_writes_and_records_the_manifest_without_asking_crictl(node: Node):
    node.socket.unlink()  # a first start: nothing to wait for
    record = node.root / "record"
    done, _ = restart(node, "start", 30, str(record))
    assert done.returncode == 0, done.stderr
    assert "version 2" in node.manifest.read_text()
    assert record.read_text().split() == [sha256(node.config), sha256(node.manifest)]


def test_a_failing_kubeadm_records_nothing(node: Node):
    (Path(node.env["STATE"]) / "kubeadm-fails").write_text("")
    record = node.root / "record"
    done, _ = restart(node, "render", 30, str(record))
    assert done.returncode == 1 and not record.exists()


def test_observe_reports_the_manifest_and_the_record_of_what_kubeadm_rendered(node: Node):
    record = node.root / "record"
    record.write_text("c" * 64 + " " + "e" * 64 + "\n")
    argv = [
        "sh",
        str(scripts.path("observe_etcd")),
        "static-pod",
        "etcd",
        str(node.manifest),
        f"unix://{node.socket}",
        *(str(node.root / name) for name in ("ca", "server", "peer", "client", "key")),
        "127.0.0.1:1",
        "127.0.0.1:1",
        "",
        "infra0",
        "yes",
        "",
        "",  # no snapshot schedule
        str(record),
    ]
    done = subprocess.run(argv, env=node.env, capture_output=True, text=True, check=True)
    observation = parse_observation(done.stdout.splitlines())
    assert observation.container_id == "c0"
    assert observation.manifest_sha256 == sha256(node.manifest)
    assert observation.rendered_config_sha256 == "c" * 64
    assert observation.rendered_manifest_sha256 == "e" * 64


def test_bounce_recreates_the_pod_from_the_same_manifest(node: Node):
    done, _ = restart(node, "bounce")
    assert done.returncode == 0, done.stderr
    assert [kind for _, kind, _ in node.kubelet.events] == ["stop", "start"]
    assert node.kubelet.pods_seen == {"etcd.yaml"}


def test_a_failing_kubeadm_fails_the_restart_and_touches_nothing(node: Node):
    (Path(node.env["STATE"]) / "kubeadm-fails").write_text("")
    before = node.manifest.read_bytes()
    done, _ = restart(node, "rewrite")
    assert done.returncode == 1
    assert "kubeadm init phase etcd local" in done.stderr and "boom" in done.stderr
    assert node.manifest.read_bytes() == before
    assert node.kubelet.events == []


def test_an_unreachable_container_runtime_fails_loudly(node: Node):
    node.socket.unlink()
    done, _ = restart(node, "bounce")
    assert done.returncode == 1
    assert "crictl cannot reach the container runtime" in done.stderr
    assert "no such file or directory" in done.stderr
    assert node.manifest.exists() and node.kubelet.events == []


def test_a_container_that_is_not_replaced_in_time_fails_and_the_manifest_is_back(node: Node):
    node.kubelet.start_delay = 5
    done, _ = restart(node, "bounce", timeout=2)
    assert done.returncode == 1
    assert "no new etcd container 2s after" in done.stderr
    assert node.manifest.exists() and not (node.park / "etcd.yaml").exists()


@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGHUP, 129), (signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_an_interrupted_bounce_puts_the_parked_manifest_back(node: Node, sent: int, code: int):
    node.kubelet.stop_delay = 3  # the old container lingers: the script waits, parked
    before = node.manifest.read_bytes()
    argv = ["sh", str(scripts.path("restart_static_pod")), "bounce", str(node.manifest)]
    argv += [str(node.config), f"unix://{node.socket}", str(node.park), "60"]
    proc = subprocess.Popen(argv, env=node.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parked = node.park / "etcd.yaml"
    deadline = time.monotonic() + 10
    while not parked.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert parked.exists() and not node.manifest.exists()
    proc.send_signal(sent)
    assert proc.wait(timeout=10) == code
    assert node.manifest.read_bytes() == before and not parked.exists()


# --- retire_static_pod -----------------------------------------------------------------------


def retire_pod(node: Node, mode: str, timeout: int = 10) -> subprocess.CompletedProcess:
    argv = ["sh", str(scripts.path("retire_static_pod")), mode, str(node.manifest)]
    argv += [f"unix://{node.socket}", str(node.root / "removed"), str(timeout)]
    return subprocess.run(argv, env=node.env, capture_output=True, text=True, timeout=60)


def test_retiring_a_static_pod_moves_the_manifest_away_and_waits_for_the_container(node: Node):
    before = node.manifest.read_bytes()
    assert retire_pod(node, "check").stdout.split() == ["manifest", "container"]
    done = retire_pod(node, "retire")
    assert done.returncode == 0, done.stderr
    assert "no etcd container runs" in done.stdout
    assert not node.manifest.exists()  # kubelet will not start the removed member again
    (kept,) = (node.root / "removed").iterdir()  # kept, never deleted
    assert kept.name.startswith("etcd.yaml.removed-") and kept.read_bytes() == before
    assert [(kind, c) for _, kind, c in node.kubelet.events] == [("stop", "c0")]
    assert (Path(node.env["STATE"]) / "running").read_text() == ""  # gone before it returned
    assert retire_pod(node, "check").stdout.strip() == ""
    again = retire_pod(node, "retire")
    assert again.returncode == 0 and list((node.root / "removed").iterdir()) == [kept]


def test_a_retired_pod_whose_container_lingers_fails_bounded_and_is_finished_later(node: Node):
    node.kubelet.stop_delay = 4
    done = retire_pod(node, "retire", timeout=1)
    assert done.returncode == 1
    assert "etcd container still running 1s after its manifest was moved away" in done.stderr
    assert retire_pod(node, "check").stdout.split() == ["container"]  # the next run waits again
    done = retire_pod(node, "retire", timeout=10)
    assert done.returncode == 0, done.stderr


def test_retiring_a_static_pod_without_the_container_runtime_fails_loudly(node: Node):
    node.socket.unlink()
    assert "runtime" in retire_pod(node, "check").stdout.split()
    done = retire_pod(node, "retire")
    assert done.returncode == 1 and "crictl cannot reach the container runtime" in done.stderr


def test_retire_takes_a_static_pod_down_before_its_data_moves(make_cluster, make_settings):
    """Each script runs as ``sh -c SCRIPT NAME ARGS``: compare the words after the texts."""

    def runs(command: str) -> list[str]:
        words = shlex.split(command)
        return [" ".join(words[i + 2 : i + 5]) for i, w in enumerate(words) if w == "-c"]

    check, retire = retire_commands(make_cluster(), "/var/lib/etcd", ["/pki/k.key"])
    assert runs(retire) == [  # the data moves only once the pod is gone
        "retire_static_pod retire /etc/kubernetes/manifests/etcd.yaml",
        "retire_member retire etcd",
    ]
    assert shlex.split(retire)[shlex.split(retire).index("-c", 3) - 2] == "&&"
    assert [run.split()[:2] for run in runs(check)] == [
        ["retire_static_pod", "check"],
        ["retire_member", "check"],
    ]
    systemd = make_cluster(settings_=make_settings(etcd_runtime="systemd"))
    check, retire = retire_commands(systemd, "/var/lib/etcd", ["/pki/k.key"])
    assert runs(retire) == ["retire_member retire etcd"] and len(runs(check)) == 1


# --- observe_etcd ----------------------------------------------------------------------------

FAKE_SYSTEMCTL = """#!/bin/sh
# Stand-in for systemctl show: the "etcd" unit is active, its main process is $ETCD_PID;
# the backup service's last run failed; the backup timer started at 1764500000 (the
# service's own ActiveEnterTimestamp is another time). A block of properties per unit
# asked, a blank line after each, as systemctl prints them; no other verb answers.
[ "$1" = show ] || exit 2
for arg; do
    case $arg in
    etcd.service)
        printf 'MainPID=%s\\nNeedDaemonReload=no\\nActiveState=active\\n' "$ETCD_PID"
        printf 'Result=success\\nActiveEnterTimestamp=@1764400000\\n\\n' ;;
    etcd-backup.service)
        printf 'Result=exit-code\\nExecMainStatus=1\\nExecMainExitTimestamp=@1764590000\\n'
        printf 'ActiveState=inactive\\nActiveEnterTimestamp=@1764400000\\n\\n' ;;
    etcd-backup.timer)
        printf 'Result=success\\nActiveState=active\\nActiveEnterTimestamp=@1764500000\\n\\n' ;;
    esac
done
"""


FAKE_SYSTEMD_ANALYZE = """#!/bin/sh
# Stand-in for systemd-analyze calendar --iterations=2: logs its arguments, prints
# systemd 252's lines for two elapses (in UTC, as TZ=UTC asks).
echo "$*" >"$(dirname "$0")/analyze-args"
echo '  Original form: hourly'
echo 'Normalized form: *-*-* *:00:00'
echo '    Next elapse: Mon 2025-12-01 12:00:00 UTC'
echo '       From now: 11 months 30 days ago'
echo '       Iter. #2: Mon 2025-12-01 13:00:00 UTC'
echo '       From now: 11 months 30 days ago'
"""


def run_observe(
    tmp_path: Path,
    *extra: str,
    before_start=None,
    memo: Path | None = None,
    deleted_binary: bool = False,
    running: bool = True,
) -> subprocess.CompletedProcess:
    """observe_etcd.sh against a stand-in etcd (a real process), real certificate files under
    tmp/pki and snapshots under tmp/backups; ``extra``: its optional last arguments;
    ``memo``: the survey's memo directory (none: not called from the survey);
    ``deleted_binary``: the stand-in runs a copy of sleep, deleted once it runs; ``running``
    False: systemd shows no main process (the stand-in runs all the same)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    (bin_dir / "systemd-analyze").write_text(FAKE_SYSTEMD_ANALYZE)
    (bin_dir / "systemd-analyze").chmod(0o755)
    pki_dir = tmp_path / "pki"
    code = "import time; time.sleep(30)"
    launched = time.time()
    command = [sys.executable, "-c", code, "--name=infra0"]
    if deleted_binary:
        command = [shutil.copy("/bin/sleep", str(tmp_path / "etcd-binary")), "30"]
    stand_in = subprocess.Popen(
        command, env={**os.environ, "ETCD_OBSERVED": "secret\nSECOND=secret"}
    )
    if deleted_binary:
        os.unlink(command[0])
    try:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "ETCD_PID": str(stand_in.pid if running else 0),
        }
        env.pop(scripts.MEMO_DIR_VARIABLE, None)
        if memo is not None:
            env[scripts.MEMO_DIR_VARIABLE] = str(memo)
        argv = [
            "sh",
            str(scripts.path("observe_etcd")),
            "systemd",
            "etcd",
            "/nonexistent/etcd.yaml",
            "unix:///nonexistent.sock",
            ETCD_CA.cert_path(str(pki_dir)),
            ETCD_SERVER.cert_path(str(pki_dir)),
            f"{pki_dir}/etcd/peer.crt",
            f"{pki_dir}/etcd/healthcheck-client.crt",
            f"{pki_dir}/etcd/healthcheck-client.key",
            "127.0.0.1:1",
            "127.0.0.1:1",
            str(tmp_path / "backups"),
            "infra0",
            *extra,
        ]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=True)
        done.launched = launched  # type: ignore[attr-defined]
        return done
    finally:
        stand_in.kill()


@pytest.fixture
def member_files(tmp_path: Path) -> pki.KeyPair:
    """tmp/pki with the CA and a server certificate (the CA's, for the test), tmp/backups."""
    now = datetime.datetime.now(datetime.UTC)
    ca = pki.new_ca(ETCD_CA, "ECDSA-P256", datetime.timedelta(days=1), now)
    pki_dir = tmp_path / "pki"
    (pki_dir / "etcd").mkdir(parents=True)
    Path(ETCD_CA.cert_path(str(pki_dir))).write_bytes(ca.cert_pem)
    Path(ETCD_SERVER.cert_path(str(pki_dir))).write_bytes(ca.cert_pem)
    backups = tmp_path / "backups"  # the newest on disk of this member's snapshots is reported
    backups.mkdir()
    names = ("infra0-20260102T000000Z", "infra0-20260101T000000Z", "infra00-20270101T000000Z")
    for age, name in enumerate(names):  # 20260101 is newer on disk than its name says
        path = backups / f"etcd-snapshot-{name}.db"
        path.write_text("x")
        os.utime(path, (1764000000 + age, 1764000000 + age))
    return ca


def test_observe_reports_the_running_process_and_the_certificate_files(tmp_path, member_files):
    done = run_observe(tmp_path)
    observation = parse_observation(done.stdout.splitlines())
    assert observation.args == (
        sys.executable,
        "-c",
        "import time; time.sleep(30)",
        "--name=infra0",
    )
    assert observation.started_at is not None and abs(observation.started_at - time.time()) < 30
    # to the hundredth, not a whole second early: a ca.crt written just before etcd started
    # must not look newer than the process (a restart for nothing)
    assert observation.started_at >= done.launched - 0.05  # type: ignore[attr-defined]
    assert observation.clock is not None and abs(observation.clock - time.time()) < 30
    assert observation.ca_mtime is not None and abs(observation.ca_mtime - time.time()) < 30
    der = member_files.cert.public_bytes(Encoding.DER)
    assert observation.file_server == hashlib.sha256(der).hexdigest()
    assert observation.file_peer == "" and observation.served_client == ""
    assert not observation.binary_replaced and not observation.needs_daemon_reload
    assert "PATH" in observation.env  # its environment, by name only
    assert "ETCD_OBSERVED" in observation.env and "secret" not in done.stdout
    assert parse_survey(done.stdout.splitlines()).etcd_active  # from the same systemctl
    assert observation.latest_snapshot == "etcd-snapshot-infra0-20260101T000000Z.db"
    assert observation.latest_snapshot_mtime == 1764000001
    assert "running_version:" in done.stdout  # the process was asked for its version
    assert (observation.backup_result, observation.backup_exit_status) == ("exit-code", "1")
    assert observation.backup_exit_at == 1764590000
    assert observation.backup_due is None  # no schedule given: no due time


def test_observe_says_when_the_schedule_came_due_twice_after_the_newest_snapshot(
    tmp_path, member_files
):
    done = run_observe(tmp_path, "yes", "", "hourly")
    observation = parse_observation(done.stdout.splitlines())
    assert observation.backup_due == 1764594000  # 2025-12-01 13:00:00 UTC, systemd's 2nd
    args = (tmp_path / "bin/analyze-args").read_text().split()
    assert args == ["calendar", "--iterations=2", "--base-time=@1764000001", "hourly"]
    for path in (tmp_path / "backups").iterdir():
        path.unlink()
    run_observe(tmp_path, "yes", "", "hourly")  # no snapshot: since the timer started
    assert "--base-time=@1764500000" in (tmp_path / "bin/analyze-args").read_text()


def test_observe_sees_the_running_binary_deleted(tmp_path, member_files):
    done = run_observe(tmp_path, "yes", str(tmp_path / "etcd-binary"), deleted_binary=True)
    observation = parse_observation(done.stdout.splitlines())
    assert f"exe:{tmp_path}/etcd-binary (deleted)" in done.stdout.splitlines()
    assert observation.binary_replaced and "running_binary:yes" not in done.stdout


def test_observe_keeps_the_due_time_while_the_snapshot_and_the_schedule_stay(
    tmp_path, member_files
):
    """The survey's memo directory (made as remember.sh makes it, root's only) keeps the
    answer: systemd-analyze is asked again only for another snapshot or schedule, or when
    the entry is damaged or not ours."""
    memo = tmp_path / "memo"
    asked = tmp_path / "bin/analyze-args"

    def due(schedule: str = "hourly") -> float | None:
        asked.unlink(missing_ok=True)
        done = run_observe(tmp_path, "yes", "", schedule, memo=memo)
        return parse_observation(done.stdout.splitlines()).backup_due

    assert due() == 1764594000 and asked.exists()
    entry = memo / "observe-backup-due"
    assert (memo.stat().st_mode & 0o777, entry.stat().st_mode & 0o777) == (0o700, 0o600)
    assert entry.read_text() == "1764000001 hourly\n1764594000\n"
    assert due() == 1764594000 and not asked.exists()  # from the memo
    assert due("daily") == 1764594000 and "daily" in asked.read_text()
    snapshot = tmp_path / "backups/etcd-snapshot-infra0-20260103T000000Z.db"
    snapshot.write_text("x")
    os.utime(snapshot, (1764000100, 1764000100))
    assert due("daily") == 1764594000 and "--base-time=@1764000100" in asked.read_text()
    entry.write_text("1764000100 daily\n17645x\n")  # damaged
    assert due("daily") == 1764594000 and asked.exists()
    assert entry.read_text() == "1764000100 daily\n1764594000\n"
    assert sorted(p.name for p in memo.iterdir()) == [entry.name, "observe-clock-ticks"]
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)  # not ours: not trusted
        assert due("daily") == 1764594000 and asked.exists()
    run_observe(tmp_path, "yes", "", "weekly")  # outside the survey: nothing kept
    assert "weekly" not in entry.read_text()


def test_observe_keeps_the_clock_ticks_a_second_for_this_boot(tmp_path, member_files):
    """The start is counted in clock ticks: how many a second is kept, for this boot only."""
    memo = tmp_path / "memo"
    entry = memo / "observe-clock-ticks"
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    hz = os.sysconf("SC_CLK_TCK")

    def late() -> float:  # how long after its launch the stand-in started, as observed
        done = run_observe(tmp_path, memo=memo)
        started = parse_observation(done.stdout.splitlines()).started_at
        assert started is not None
        return started - done.launched  # type: ignore[attr-defined]

    assert abs(late()) < 1 and entry.read_text() == f"{boot_id}\n{hz}\n"
    entry.write_text(f"{boot_id}\n{hz * 2}\n")  # kept for this boot: used
    assert late() < -1
    for kept in (f"another-boot\n{hz * 2}\n", f"{boot_id}\n{hz * 2}x\n", f"{boot_id}\n"):
        entry.write_text(kept)  # another boot's, damaged, cut short: asked again
        assert abs(late()) < 1 and entry.read_text() == f"{boot_id}\n{hz}\n"


def test_observe_skips_what_the_survey_knows_and_handshakes_that_cannot_differ(
    tmp_path, member_files
):
    """Called from the survey: the files were read (no fingerprints), the binary asked for
    its version (not asked again); certificate files older than the process, even in the
    same second: etcd serves them, no handshake is needed. A file newer than the process:
    both ports are asked."""
    server = Path(ETCD_SERVER.cert_path(str(tmp_path / "pki")))
    old = time.time() - 3600
    os.utime(server, (old, old))
    binary = os.path.realpath(sys.executable)
    done = run_observe(tmp_path, "yes", binary)
    assert "running_binary:yes" in done.stdout.splitlines()
    assert "running_version:" not in done.stdout and "file_server:" not in done.stdout
    assert "served_client:" not in done.stdout and "served_peer:" not in done.stdout

    # written in the second etcd starts, but 0.4 s or more before it: etcd read it at start
    while not 0.45 < time.time() % 1 < 0.6:
        time.sleep(0.01)
    early = int(time.time()) + 0.05
    os.utime(server, (early, early))
    same_second = run_observe(tmp_path, "yes", binary)
    assert "served_client:" not in same_second.stdout

    os.utime(server, (time.time() + 60, time.time() + 60))  # renewed after etcd started
    renewed = run_observe(tmp_path, "yes", "/usr/bin/another-etcd")
    lines = renewed.stdout.splitlines()
    assert "served_client:" in "\n".join(lines) and "served_peer:" in "\n".join(lines)
    assert any(line.startswith("running_version:") for line in lines)


def test_observe_asks_no_port_when_the_unit_has_no_process(tmp_path, member_files):
    """A fresh host (etcd not running, no certificate yet or one just written): no handshake
    on either port, where nothing of this member can answer."""
    log = tmp_path / "timeout-calls"
    stand_in_tools(tmp_path, timeout=f'#!/bin/sh\necho "$*" >>{log}\nexit 1\n')
    server = Path(ETCD_SERVER.cert_path(str(tmp_path / "pki")))
    os.utime(server, (time.time() + 60, time.time() + 60))  # newer than any process
    done = run_observe(tmp_path, running=False)
    assert "pid:0" in done.stdout.splitlines() and "started:" not in done.stdout
    assert "served_" not in done.stdout and not log.exists()
    asked = run_observe(tmp_path)  # a process, and a certificate written after it started
    assert "served_client:" in asked.stdout and log.read_text().count("s_client") == 2


def test_observe_during_a_run_fingerprints_the_certificates_the_plan_knows(
    tmp_path, member_files, cluster
):
    """After a write in a run (a first start's one command): the plan holds what the member's
    certificate files are (the survey's read, then this run's writes), so the script runs no
    openssl on them, and the observation has the same fingerprints it would have printed."""
    from etcd_cluster.certs.plan import MemberPlan
    from etcd_cluster.engine import operations
    from etcd_cluster.engine.plan import Plan
    from etcd_cluster.engine.remote import RemoteFile

    member = cluster.members[0]
    pki_dir = cluster.settings.pki_dir
    current = {
        ETCD_SERVER.cert_path(pki_dir): RemoteFile(member_files.cert_pem, "0644", "root", "root")
    }
    plan = Plan(
        cluster=cluster,
        members={member.host: MemberPlan(member, wanted={}, current=current)},
        control_plane_files={},
        ca_created=True,
        surveys={},
        observations={},
    )
    command = operations.observe_command_for(plan, member.host)
    assert shlex.split(command)[-4:-2] == ["yes", ""]  # files read, the binary asked here
    done = run_observe(tmp_path, "yes")
    assert "file_server:" not in done.stdout
    observation = operations.parse_observed(plan, member.host, done.stdout.splitlines())
    printed = parse_observation(run_observe(tmp_path).stdout.splitlines())  # as openssl says
    assert observation.file_server == printed.file_server != ""
    assert observation.file_peer == printed.file_peer == ""  # no peer.crt: none either way
    other = cluster.members[1].host  # not in the plan's members: the script reads the files
    assert shlex.split(operations.observe_command_for(plan, other))[-4] == ""
    assert operations.parse_observed(plan, other, done.stdout.splitlines()).file_server == ""


# --- prepare_join and a joining member's start ------------------------------------------------

JOIN_SYSTEMCTL = """#!/bin/sh
# Stand-in for systemctl: logs its arguments; "stop" fails when $STATE/stop-fails exists,
# "enable" when $STATE/enable-fails does; "show -p ActiveState" prints $STATE/active-state.
echo "$*" >>"$STATE/calls"
case "$1" in
stop) [ -f "$STATE/stop-fails" ] && { echo "Job for etcd.service canceled." >&2; exit 1; } ;;
enable)
    [ -f "$STATE/enable-fails" ] && { echo "Failed: Read-only file system" >&2; exit 1; } ;;
show) cat "$STATE/active-state" ;;
esac
exit 0
"""


@pytest.fixture
def join_host(tmp_path: Path) -> dict[str, str]:
    """A PATH with the stand-in systemctl, a state dir, and a data dir holding member/."""
    env = stand_in_tools(tmp_path, systemctl=JOIN_SYSTEMCTL)
    (Path(env["STATE"]) / "active-state").write_text("inactive\n")
    (tmp_path / "data/member/snap").mkdir(parents=True)
    return env


def prepare_join(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = ["sh", str(scripts.path("prepare_join")), "systemd", "etcd", str(tmp_path / "data")]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)


def test_prepare_join_moves_old_member_data_aside_once_etcd_is_stopped(tmp_path, join_host):
    done = prepare_join(tmp_path, join_host)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data/member").exists()
    (aside,) = tmp_path.glob("data.before-join-*")
    assert (aside / "member/snap").is_dir()  # moved, never deleted
    assert (tmp_path / "state/calls").read_text().startswith("stop etcd\n")


def test_prepare_join_leaves_member_data_when_etcd_could_not_be_stopped(tmp_path, join_host):
    state = tmp_path / "state"
    (state / "stop-fails").write_text("")
    (state / "active-state").write_text("active\n")
    done = prepare_join(tmp_path, join_host)
    assert done.returncode == 1
    assert "stopping etcd failed (it is active)" in done.stderr and "canceled" in done.stderr
    assert (tmp_path / "data/member/snap").is_dir()
    assert list(tmp_path.glob("data.before-join-*")) == []
    # A unit that is not there (the stop fails) is down anyway: the data may move.
    (state / "active-state").write_text("inactive\n")
    assert prepare_join(tmp_path, join_host).returncode == 0
    assert not (tmp_path / "data/member").exists()


def test_a_joining_member_whose_enable_fails_is_not_started(make_cluster, make_settings, join_host):
    command = start_command(make_cluster(settings_=make_settings(etcd_runtime="systemd")))
    calls = Path(join_host["STATE"]) / "calls"
    done = subprocess.run(["sh", "-c", command], env=join_host, capture_output=True, text=True)
    assert done.returncode == 0 and calls.read_text().split("\n")[:2] == [
        "enable --quiet etcd",
        "start etcd",
    ]
    calls.unlink()
    (Path(join_host["STATE"]) / "enable-fails").write_text("")
    done = subprocess.run(["sh", "-c", command], env=join_host, capture_output=True, text=True)
    assert done.returncode == 1 and "Read-only file system" in done.stderr
    assert calls.read_text() == "enable --quiet etcd\n"
