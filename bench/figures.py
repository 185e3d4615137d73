"""What one benchmark run measured, and the targets of issue 19 ("Speed, round two").

Plain data, no hosts: the report is made from these alone, so it can be tested
without a test bed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.counting import Counts
from bench.steps import Timeline


@dataclass(frozen=True)
class Target:
    """A figure that should stay at or under ``limit`` (``unit`` only for display)."""

    limit: float
    unit: str = ""

    def __str__(self) -> str:
        return f"≤ {self.limit:g}{self.unit}"

    def met(self, value: float) -> str:
        return "yes" if value <= self.limit else "no"


NOOP_OVER_PYINFRA_FLOOR = Target(1.5, "×")
"""A rerun that changes nothing costs at most 1.5 times the least any pyinfra run costs."""
NOOP_LARGEST_OVER_SMALLEST = Target(1.2, "×")
"""Members are handled in parallel: 7 of them must not make a no-op much slower than 3."""
COLD_OVER_BOTH_FLOORS = Target(2, "×")
"""A cold deploy costs at most twice a bare pyinfra run plus etcd's own bootstrap."""
COLD_OVER_PYINFRA_FLOOR = Target(4, "×")
"""A cold deploy costs at most four bare pyinfra runs on the same fresh hosts."""
COMMANDS_PER_HOST = Target(6)
"""Remote commands per host on a no-op rerun: each is a round trip over ssh."""


@dataclass
class ConnectorFigures:
    """The no-op rerun over one connector, and its floor on the same bed (seconds)."""

    connector: str
    noop: list[float]
    pyinfra_floor: list[float]
    counts: Counts
    noop_cpu: list[float] = field(default_factory=list)
    """CPU seconds of each no-op's pyinfra process and its children (the docker CLI): the
    part of the run on the machine running pyinfra, not the members'."""
    floor_cpu: list[float] = field(default_factory=list)
    """The same for each ``pyinfra exec -- true``."""


@dataclass
class SizeFigures:
    """Everything measured for one cluster size (durations in seconds)."""

    size: int
    cold_connector: str
    cold: list[float]
    etcd_floor: list[float]
    connectors: list[ConnectorFigures]
    fresh_floor: list[float] = field(default_factory=list)
    """``pyinfra exec -- true`` on each fresh bed just before its cold deploy."""
    cold_timelines: list[Timeline] = field(default_factory=list)
    """Each cold deploy's timeline (``bench.steps``): where its time went."""
