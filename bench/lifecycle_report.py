"""The benchmark's lifecycle table: each operation's deploy run beside etcd's own time for it.

Plain data, no hosts, so the table is tested without a test bed.  Issue 19 sets no
target for these; the ratio says how much of an operation is the deploy's (its
checks, the snapshot it takes first, pyinfra) and how much is etcd's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import duration, markdown_table


@dataclass(frozen=True)
class LifecycleFigure:
    """One lifecycle operation: deploy runs and etcd's own time for it (seconds)."""

    operation: str
    deploy: list[float]
    etcd: list[float]


ADD = "member add (3 → 4)"
REMOVE = "member removal (4 → 3)"
UPGRADE = "upgrade of 3 members"
RESTORE = "restore of 3 members"


def lifecycle_table(figures: Sequence[LifecycleFigure]) -> str:
    rows = [
        [
            f.operation,
            duration(f.deploy),
            duration(f.etcd, 2),
            f"{statistics.median(f.deploy) / statistics.median(f.etcd):.2f}×",
            f"{len(f.deploy)} / {len(f.etcd)}",
        ]
        for f in figures
    ]
    header = [
        "Operation",
        "Deploy run",
        "etcd's own",
        "Deploy ÷ etcd's own",
        "Runs (deploy / etcd)",
    ]
    return markdown_table(header, rows)


def lifecycle_section(figures: Sequence[LifecycleFigure]) -> str:
    """The table under its heading (medians), as a section of the report."""
    return (
        "Lifecycle operations on one bed (3 members, a 4th host joins and leaves; docker "
        "connector), each deploy run beside etcd's own time for the same change made by "
        f"hand on the same hosts (medians):\n\n{lifecycle_table(figures)}"
    )
