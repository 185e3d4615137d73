"""What etcd runs with is the deploy's, compared whole (systemd runtime, three members).

One bed, in file order; each case changes one member by hand, then shows that the run
notices it (a change it names, or a refusal naming it), repairs it (or refuses before
any host changes), restarts only the member whose running etcd differs (etcd's start
times compared), and that the rerun changes nothing:
- a drop-in setting ``Environment=ETCD_UNSAFE_NO_FSYNC=true``, loaded and running: shown
  by ``--dry --diff`` without a change; a run the quorum gate stops (another member down)
  moves it aside but keeps the member running; the next run restarts it, under a
  write/read poller;
- the same drop-in not yet loaded (no daemon-reload): moved aside before the deploy's own
  reload could load it, no restart;
- ``systemctl set-environment ETCD_UNSAFE_NO_FSYNC=true`` and etcd restarted into it:
  unset, the member restarted under the poller;
- a limits-only drop-in: kept, named once as a warning, no change;
- drop-ins on ``etcd-backup.timer`` (a schedule years away) and ``etcd-backup.service``
  (``ExecStart=/bin/true``): moved aside, the schedule and the script back;
- a second CA appended to the first member's ca.crt: refused naming the file and the
  extra subject, nothing copied anywhere;
- a key replaced by a symbolic link: replaced by a regular file, the link's target not
  chmodded or chowned, no restart;
- ``chmod 600`` on ca.crt, the unit and the kubeadm config: a chmod back, not a rewrite
  (same inode and mtime), no restart.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from sandbox import bed
from tests.e2e.conftest import (
    PKI,
    PORT_HOLDER,
    Bed,
    ClusterPoller,
    Run,
    assert_healthy_cluster,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    pki_digests,
    pyinfra,
    sh,
)

pytestmark = pytest.mark.e2e

DROPIN_DIR = "/etc/systemd/system/etcd.service.d"
NO_FSYNC = "[Service]\nEnvironment=ETCD_UNSAFE_NO_FSYNC=true\n"
LIMITS = "[Service]\nLimitNOFILE=70000\nNice=-1\nTasksMax=4096\n"
CA = f"{PKI}/etcd/ca.crt"
UNIT = "/etc/systemd/system/etcd.service"


@pytest.fixture(scope="module")
def bed3(tmp_path_factory) -> Iterator[Bed]:
    yield from make_bed(tmp_path_factory, "etcd-e2e-tamper-systemd", 3, subnet_index=95)


def write(node: bed.Node, path: str, text: str) -> None:
    result = sh(node, f"mkdir -p \"$(dirname '{path}')\" && cat >'{path}'", stdin=text.encode())
    assert result.returncode == 0, result.stderr


def etcd_env(node: bed.Node) -> list[str]:
    """The names in the environment of the etcd process the unit runs now."""
    pid = out(node, "systemctl show -p MainPID --value etcd")
    assert pid != "0", node.container
    return out(node, f"tr '\\0' '\\n' </proc/{pid}/environ | cut -d= -f1").splitlines()


def times(b: Bed) -> dict[str, tuple[int, int]]:
    return {n.container: etcd_times(n) for n in b.nodes}


def moved_aside(node: bed.Node, path: str) -> list[str]:
    return out(node, f"ls -1 {path}.moved-aside-* 2>/dev/null || true").splitlines()


def start_etcd(node: bed.Node, verb: str = "start") -> None:
    assert sh(node, f"systemctl daemon-reload && systemctl {verb} etcd").returncode == 0
    for _ in range(60):  # until it serves again: the next case's gate needs all three
        if sh(node, "systemctl is-active -q etcd").returncode == 0:
            break
        time.sleep(1)


def restart_etcd(node: bed.Node) -> None:
    start_etcd(node, "restart")


def converges_with_no_change(b: Bed) -> None:
    rerun = deploy_ok(b.inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0, rerun.output[-3000:]


def deploy_under_poller(b: Bed) -> Run:
    with ClusterPoller(b.nodes[0], b.endpoints()) as poller:
        run = deploy_ok(b.inventory)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    return run


def only_restarted(b: Bed, before: dict[str, tuple[int, int]], *restarted: bed.Node) -> None:
    after = times(b)
    for node in b.nodes:
        changed = after[node.container] != before[node.container]
        assert changed == (node in restarted), node.container
    windows = sorted(after[n.container] for n in restarted)
    for (_, previous_active), (next_inactive, _) in itertools.pairwise(windows):
        assert next_inactive >= previous_active  # one member at a time


def test_deploy(bed3: Bed):
    assert_healthy_cluster(bed3, deploy_ok(bed3.inventory))


def test_a_loaded_environment_drop_in_is_moved_aside_and_its_member_restarted(bed3: Bed):
    node = bed3.nodes[1]
    dropin = f"{DROPIN_DIR}/50-no-fsync.conf"
    write(node, dropin, NO_FSYNC)
    restart_etcd(node)
    assert "ETCD_UNSAFE_NO_FSYNC" in etcd_env(node)
    before = times(bed3)

    dry = pyinfra(bed3.inventory, "--dry", "--diff")
    assert dry.returncode == 0, dry.output[-3000:]
    assert f"Will move aside {dropin} (etcd.service: sets Environment)" in dry.output
    assert "Environment=ETCD_UNSAFE_NO_FSYNC=true" in dry.output  # the diff
    assert sh(node, f"test -f {dropin}").returncode == 0  # --dry changed nothing

    # Interrupted: infra2 is down and cannot start, the gate keeps infra1 running.
    down = bed3.nodes[2]
    assert sh(down, "systemctl stop etcd").returncode == 0
    holder = out(down, PORT_HOLDER.format(address=down.address))
    try:
        run = pyinfra(bed3.inventory, "--data", "etcd_health_timeout=10")
        assert run.returncode != 0
        assert "not restarting infra1" in run.output, run.output[-3000:]
        assert sh(node, f"test -e {dropin}").returncode != 0
        assert len(moved_aside(node, dropin)) == 1  # kept, under a name systemd ignores
        assert "ETCD_UNSAFE_NO_FSYNC" in etcd_env(node)  # not restarted yet
    finally:
        sh(down, f"kill {holder}")
    start_etcd(down)
    before = times(bed3)

    run = deploy_under_poller(bed3)  # the next run finishes the change
    assert "ETCD_UNSAFE_NO_FSYNC in its environment" in run.output, run.output[-3000:]
    assert "ETCD_UNSAFE_NO_FSYNC" not in etcd_env(node)
    only_restarted(bed3, before, node)
    converges_with_no_change(bed3)


def test_a_drop_in_not_yet_loaded_is_moved_aside_before_any_reload(bed3: Bed):
    node = bed3.nodes[2]
    dropin = f"{DROPIN_DIR}/60-pending.conf"
    write(node, dropin, NO_FSYNC + "ExecStartPre=/bin/true\n")  # no daemon-reload
    before = times(bed3)

    run = deploy_ok(bed3.inventory)
    assert f"Will move aside {dropin}" in run.output, run.output[-3000:]
    assert len(moved_aside(node, dropin)) == 1
    shown = out(node, "systemctl show etcd -p Environment -p ExecStartPre -p NeedDaemonReload")
    assert "ETCD_UNSAFE_NO_FSYNC" not in shown and "/bin/true" not in shown, shown
    assert "NeedDaemonReload=no" in shown
    only_restarted(bed3, before)  # the running etcd never had it
    converges_with_no_change(bed3)


def test_an_etcd_variable_in_the_manager_environment_is_unset(bed3: Bed):
    node = bed3.nodes[0]
    assert sh(node, "systemctl set-environment ETCD_UNSAFE_NO_FSYNC=true").returncode == 0
    restart_etcd(node)
    assert "ETCD_UNSAFE_NO_FSYNC" in etcd_env(node)
    before = times(bed3)

    run = deploy_under_poller(bed3)
    assert "Will unset ETCD_UNSAFE_NO_FSYNC in systemd's manager environment" in run.output
    assert "ETCD_UNSAFE_NO_FSYNC" not in out(node, "systemctl show-environment")
    assert "ETCD_UNSAFE_NO_FSYNC" not in etcd_env(node)
    only_restarted(bed3, before, node)
    converges_with_no_change(bed3)


def test_a_limits_only_drop_in_is_kept_with_a_warning(bed3: Bed):
    node = bed3.nodes[1]
    dropin = f"{DROPIN_DIR}/70-limits.conf"
    write(node, dropin, LIMITS)
    assert sh(node, "systemctl daemon-reload").returncode == 0
    before = times(bed3)

    run = deploy_ok(bed3.inventory, "--json")
    assert run.json()["results"]["totals"]["success"] == 0, run.output[-3000:]
    warning = f"{node.pyinfra_host}: {dropin} (etcd.service) kept: it only sets LimitNOFILE, Nice"
    assert run.output.count(warning) == 1, run.output[-3000:]
    assert out(node, f"cat {dropin}") == LIMITS.strip()
    only_restarted(bed3, before)
    sh(node, f"rm -f {dropin} && systemctl daemon-reload")


def test_backup_timer_and_service_drop_ins_are_moved_aside(bed3: Bed):
    node = bed3.nodes[2]
    timer = "/etc/systemd/system/etcd-backup.timer.d/override.conf"
    service = "/run/systemd/system/etcd-backup.service.d/override.conf"
    write(node, timer, "[Timer]\nOnCalendar=\nOnCalendar=2099-01-01\n")
    write(node, service, "[Service]\nExecStart=\nExecStart=/bin/true\n")
    assert sh(node, "systemctl daemon-reload").returncode == 0
    assert "2099" in out(node, "systemctl show etcd-backup.timer -p TimersCalendar")
    before = times(bed3)

    run = deploy_ok(bed3.inventory)
    assert f"Will move aside {timer} (etcd-backup.timer: sets OnCalendar" in run.output
    assert f"Will move aside {service} (etcd-backup.service: sets ExecStart" in run.output
    assert len(moved_aside(node, timer)) == 1 and len(moved_aside(node, service)) == 1
    calendar = out(node, "systemctl show etcd-backup.timer -p TimersCalendar")
    assert "2099" not in calendar, calendar
    exec_start = out(node, "systemctl show etcd-backup.service -p ExecStart")
    assert "/bin/true" not in exec_start and "etcd-backup" in exec_start, exec_start
    only_restarted(bed3, before)
    converges_with_no_change(bed3)


def test_a_ca_bundle_on_the_first_member_is_refused_and_nothing_copied(bed3: Bed):
    first = bed3.nodes[0]
    intruder = (
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout /root/intruder.key -days 2 "
        "-subj /CN=intruder-ca -out /root/intruder.crt 2>/dev/null"
    )
    assert sh(first, intruder).returncode == 0
    assert (
        sh(first, f"cp -p {CA} /root/ca.crt.orig && cat /root/intruder.crt >>{CA}").returncode == 0
    )
    try:
        digests, before = pki_digests(bed3.nodes), times(bed3)
        run = pyinfra(bed3.inventory)
        assert run.returncode != 0
        assert f"{CA} and {PKI}/etcd/ca.key on {first.pyinfra_host}" in run.output, run.output[
            -3000:
        ]
        assert "subject 'CN=intruder-ca'" in run.output
        assert pki_digests(bed3.nodes) == digests  # the bundle copied nowhere
        only_restarted(bed3, before)
    finally:
        sh(first, f"cp -p /root/ca.crt.orig {CA}")
    converges_with_no_change(bed3)


def test_a_key_replaced_by_a_link_becomes_a_regular_file_again(bed3: Bed):
    node = bed3.nodes[1]
    key = f"{PKI}/etcd/server.key"
    digest = out(node, f"sha256sum {key}").split()[0]
    real = "/root/server.key.real"
    setup = f"mv {key} {real} && chmod 640 {real} && ln -s {real} {key}"
    assert sh(node, setup).returncode == 0
    before = times(bed3)

    run = deploy_ok(bed3.inventory)
    assert f"replaced the link {key}" in run.output, run.output[-3000:]
    assert out(node, f"stat -c '%F %a %U %G' {key}") == "regular file 600 root root"
    assert out(node, f"sha256sum {key}").split()[0] == digest
    assert out(node, "stat -c %a /root/server.key.real") == "640"  # not chmodded through
    only_restarted(bed3, before)
    converges_with_no_change(bed3)


def test_a_chmod_on_ca_crt_is_a_chmod_back_without_restart(bed3: Bed):
    """The same for the unit and the kubeadm config: a chmod, no rewrite (same inode)."""
    node = bed3.nodes[2]
    paths = [CA, UNIT, "/etc/kubernetes/kubeadmcfg.yaml"]
    stat = f"stat -c '%a %i %Y' {' '.join(paths)}"
    was = out(node, stat)
    assert sh(node, f"chmod 600 {' '.join(paths)}").returncode == 0
    before = times(bed3)

    run = deploy_ok(bed3.inventory)
    assert f"set mode and owner of {CA}" in run.output, run.output[-3000:]
    assert out(node, stat) == was  # modes back, no file rewritten
    assert "restarting etcd member" not in run.output
    only_restarted(bed3, before)
    converges_with_no_change(bed3)
