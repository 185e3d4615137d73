"""Lifecycle operations timed: a member added, one removed, three upgraded, a restore.

Issue 19: every lifecycle operation reports its own time, against the time etcd
itself needs for it.  One bed of four hosts (systemd runtime, Debian's etcd 3.4.23,
docker connector, as the benchmark's beds), in order, each step a real ``pyinfra``
run timed until it exits, checked to have done what it says, then the same change by
hand (:mod:`bench.lifecycle_floor`):

1. cold deploy of three members (not timed here: the benchmark times cold deploys);
2. **add**: a fourth host joins the inventory; the deploy adds it as a learner and
   promotes it once caught up.  etcd's own: the member removed by hand, then added
   back by hand (``member add --learner``, start, ``member promote``);
3. **removal**: the fourth host leaves (``etcd_removed`` group, ``etcd_remove_members``).
   etcd's own: ``member remove`` and stopping it, measured in step 2;
4. **upgrade**: 3.4.23 -> 3.5.16 from a release archive (:mod:`sandbox.releases`).
   etcd's own: one member at a time, stop, swap the binary, start, until healthy,
   3.5.16 -> 3.5.30 and back (two samples; the bed ends as the deploy left it);
5. **restore**: ``restore.py`` from a scheduled snapshot on the first member.  etcd's
   own: ``etcdutl snapshot restore`` on every member and all started, until healthy.

Run on its own (prints the table)::

    ETCD_BED_LANE=N .venv/bin/python -m bench.lifecycle

The bed is ``etcd-bench-life`` on subnet index 86, removed at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.benchmark import BenchError, log, timed_pyinfra
from bench.etcd_floor import endpoints, etcdctl, wait_healthy
from bench.lifecycle_floor import (
    SCRATCH,
    add_learner,
    checked,
    copy_snapshot,
    member_names,
    remove_member,
    restore_all,
    rolling_swap,
    running_versions,
    stage_release,
)
from bench.lifecycle_report import (
    ADD,
    REMOVE,
    RESTORE,
    UPGRADE,
    LifecycleFigure,
    lifecycle_section,
)
from sandbox import bed, releases

BED = "etcd-bench-life"
SUBNET_INDEX = 86
NAMES = [f"infra{i}" for i in range(4)]
UPGRADE_TO = "3.5.16"
SWAP_TO = "3.5.30"  # the floor's hand upgrade, from UPGRADE_TO
RELEASE_DIR = f"/opt/etcd/v{UPGRADE_TO}"  # where the deploy installs UPGRADE_TO
BACKUPS = "/var/backups/etcd"  # etcd_backup_dir's default


class Inventories:
    """Writes the bed's inventories: members named ``infra<index>``, plus host data."""

    def __init__(self, nodes: list[bed.Node], workdir: Path) -> None:
        self.nodes, self.workdir = nodes, workdir
        self.data: dict[str, object] = {
            "etcd_runtime": "systemd",
            "etcd_external_config_path": str(workdir / "etcd-external.yaml"),
        }

    def write(self, name: str, count: int, removed: int | None = None) -> Path:
        """The first ``count`` hosts as members; ``removed``: that host's member to remove."""
        data = dict(self.data)
        if removed is not None:
            data["etcd_remove_members"] = [NAMES[removed]]
        path = bed.write_inventory(self.workdir / name, self.nodes[:count], data, NAMES[:count])
        if removed is not None:
            leaving = [(self.nodes[removed].pyinfra_host, {"etcd_name": NAMES[removed]})]
            with path.open("a") as inventory:
                inventory.write(f"etcd_removed = {leaving!r}\n")
        return path


def membership(nodes: list[bed.Node]) -> list[str]:
    listing = etcdctl(nodes[0], endpoints(nodes), "member", "list", "-w", "json")
    return member_names(checked(listing, "member list"))


def expect(what: str, got: object, wanted: object) -> None:
    """A timed run must have done what it is timed for, or its figure means nothing."""
    if got != wanted:
        raise BenchError(f"{what}: {got!r}, expected {wanted!r}")


def versions(nodes: list[bed.Node]) -> list[str]:
    status = etcdctl(nodes[0], endpoints(nodes), "endpoint", "status", "-w", "json")
    return running_versions(checked(status, "endpoint status"))


def value(nodes: list[bed.Node], key: str) -> str:
    got = etcdctl(nodes[0], endpoints(nodes), "get", "--print-value-only", key)
    return checked(got, f"get {key}").strip()


def put(nodes: list[bed.Node], key: str, text: str) -> None:
    checked(etcdctl(nodes[0], endpoints(nodes), "put", key, text), f"put {key}")


def membership_figures(inv: Inventories, repeats: int) -> list[LifecycleFigure]:
    """3 -> 4 -> (etcd's own: 3 -> 4, ``repeats`` times) -> 3: the add and the removal."""
    three, four = inv.nodes[:3], inv.nodes
    add = timed_pyinfra(inv.write("four.py", 4), "deploy.py")
    expect("members after the deploy's add", membership(four), NAMES)
    log(f"lifecycle: deploy adds a member in {add:.1f} s")
    etcd_remove, etcd_add = [], []
    for _ in range(repeats):
        etcd_remove.append(remove_member(three, four[3]))
        expect("members after etcd's own removal", membership(three), NAMES[:3])
        etcd_add.append(add_learner(three, four[3], NAMES[3]))
        wait_healthy(four, time.monotonic())
        expect("members after etcd's own add", membership(four), NAMES)
        log(f"lifecycle: etcd's own removal {etcd_remove[-1]:.2f} s, add {etcd_add[-1]:.2f} s")
    remove = timed_pyinfra(inv.write("removal.py", 3, removed=3), "deploy.py")
    expect("members after the deploy's removal", membership(three), NAMES[:3])
    log(f"lifecycle: deploy removes a member in {remove:.1f} s")
    return [LifecycleFigure(ADD, [add], etcd_add), LifecycleFigure(REMOVE, [remove], etcd_remove)]


def upgrade_figure(inv: Inventories) -> LifecycleFigure:
    """3.4.23 -> 3.5.16 by the deploy; 3.5.16 -> 3.5.30 -> 3.5.16 by hand."""
    nodes = inv.nodes[:3]
    _, sha256 = releases.archive(UPGRADE_TO)
    inv.data.update(releases.release_data(UPGRADE_TO, sha256))
    upgrade = timed_pyinfra(inv.write("upgrade.py", 3), "deploy.py")
    expect("versions after the deploy's upgrade", versions(nodes), [UPGRADE_TO] * 3)
    log(f"lifecycle: deploy upgrades 3 members in {upgrade:.1f} s")
    swap_archive, _ = releases.archive(SWAP_TO)
    binary = f"{RELEASE_DIR}/etcd"
    stage_release(nodes, str(swap_archive), binary)
    there = rolling_swap(nodes, binary, f"{SCRATCH}/etcd-v{SWAP_TO}-linux-amd64/etcd")
    expect("versions after etcd's own upgrade", versions(nodes), [SWAP_TO] * 3)
    back = rolling_swap(nodes, binary, f"{SCRATCH}/etcd.before")
    expect("versions after etcd's own way back", versions(nodes), [UPGRADE_TO] * 3)
    log(f"lifecycle: etcd's own rolling upgrade {there:.2f} s, and back {back:.2f} s")
    return LifecycleFigure(UPGRADE, [upgrade], [there, back])


def restore_figure(inv: Inventories) -> LifecycleFigure:
    """``restore.py`` from a scheduled snapshot, then the same snapshot restored by hand."""
    nodes = inv.nodes[:3]
    put(nodes, "bench/before-snapshot", "kept")
    checked(bed.exec(nodes[0], ["systemctl", "start", "etcd-backup.service"]), "etcd-backup")
    listing = bed.exec(nodes[0], ["sh", "-c", f"ls -t {BACKUPS}/etcd-snapshot-{NAMES[0]}-*.db"])
    snapshot = checked(listing, "ls snapshots").split()[0]
    put(nodes, "bench/after-snapshot", "lost")
    confirmed = (
        "--data",
        f"etcd_restore_snapshot={snapshot}",
        "--data",
        "etcd_restore_confirm=yes",
    )
    restore = timed_pyinfra(inv.write("restore-inventory.py", 3), "restore.py", *confirmed)
    restored = [value(nodes, "bench/before-snapshot"), value(nodes, "bench/after-snapshot")]
    expect("keys after the deploy's restore", restored, ["kept", ""])
    log(f"lifecycle: deploy restores 3 members in {restore:.1f} s")
    put(nodes, "bench/after-snapshot", "lost")
    named = list(zip(NAMES, nodes, strict=False))
    etcd_restore = restore_all(named, copy_snapshot(nodes, snapshot), f"{RELEASE_DIR}/etcdutl")
    restored = [value(nodes, "bench/before-snapshot"), value(nodes, "bench/after-snapshot")]
    expect("keys after etcd's own restore", restored, ["kept", ""])
    log(f"lifecycle: etcd's own restore {etcd_restore:.2f} s")
    return LifecycleFigure(RESTORE, [restore], [etcd_restore])


def measure_lifecycle(workdir: Path, repeats: int = 3) -> list[LifecycleFigure]:
    """Every lifecycle figure, in order on one bed (made here, removed at the end): one
    deploy run each; etcd's own add and removal ``repeats`` times (a second or so each)."""
    workdir.mkdir(parents=True)
    started = time.monotonic()
    try:
        inv = Inventories(bed.up(BED, 4, subnet_index=SUBNET_INDEX), workdir)
        cold = timed_pyinfra(inv.write("three.py", 3), "deploy.py")
        log(f"lifecycle: cold deploy of 3 members {cold:.1f} s (not a lifecycle figure)")
        figures = [*membership_figures(inv, repeats), upgrade_figure(inv), restore_figure(inv)]
    finally:
        bed.down(BED)
    log(f"lifecycle: {time.monotonic() - started:.0f} s in all, bed included")
    return figures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="etcd-bench-life-") as tmp:
        print(lifecycle_section(measure_lifecycle(Path(tmp) / "lifecycle")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
