"""Where a cold deploy's time goes, step by step: the timeline of one run, cut into parts.

:mod:`bench.timed_pyinfra` records when pyinfra's stages began, when each operation ran
(and which step of ``tasks/`` called it), and spans of the prepare phase's own work (the
survey, key generation, certificates, the rest of the plan).  Here that timeline becomes
one figure per part, on the critical path: every instant of the run, from the process's
launch to its exit, is counted once, for the innermost thing going on then (an operation;
else a key being generated, inside certificates being signed, inside the plan; else
pyinfra's stage).  Spans are taken where the deploy waits for the work, so work done
ahead in the background shows only as the wait that is left.  The parts add up to the
whole run, and a part that got faster shows as such.

Plain data, no hosts: tested without a test bed.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STAGES = ("connect", "prepare", "execute", "disconnect")
"""pyinfra's stages, in order (``StateStage``), as the timeline names them."""

SPANS = {
    "key": "prepare: key generation",
    "certificates": "prepare: certificates (signing, checks)",
    "survey": "prepare: survey (one command per member)",
    "plan": "prepare: plan (checks, decisions)",
}
"""The prepare phase's spans, innermost first, and the part each is counted in."""

OUTER = {
    "launch": "start-up (Python, pyinfra, inventory)",
    "connect": "connect",
    "prepare": "prepare: deploy files (the rest)",
    "execute": "execute: between operations",
    "disconnect": "results, disconnect, exit",
}
"""The stretches between pyinfra's stages, each the part for what nothing inner claims."""


@dataclass(frozen=True)
class Span:
    """``name`` went on from ``start`` to ``end`` (seconds since the epoch)."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class OpTiming:
    """One operation, on all its hosts: the step (``tasks/`` module) that called it."""

    step: str
    name: str
    start: float
    end: float


@dataclass
class Timeline:
    """One pyinfra run: its launch and exit (taken by the caller), its stages and work."""

    launched: float
    ended: float
    stages: dict[str, float] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    ops: list[OpTiming] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping, launched: float, ended: float) -> Timeline:
        """The wrapper's record (``timed_pyinfra``), with the caller's launch and exit."""
        return cls(
            launched,
            ended,
            dict(data.get("stages", {})),
            [Span(*span) for span in data.get("spans", [])],
            [OpTiming(*op) for op in data.get("ops", [])],
        )


@dataclass(frozen=True)
class Part:
    """One row of the breakdown: a step (or a stretch of pyinfra's own) and its seconds."""

    step: str
    seconds: float
    operations: int = 0
    slowest: str = ""  # the step's slowest operation (without the deploy's name)
    slowest_seconds: float = 0.0


def _outer_intervals(t: Timeline) -> list[tuple[str, float, float]]:
    """pyinfra's stretches: from the launch to the first stage, stage to stage, to the exit."""
    marks = [("launch", t.launched)] + [(s, t.stages[s]) for s in STAGES if s in t.stages]
    ends = [time for _, time in marks[1:]] + [t.ended]
    return [(OUTER[name], start, end) for (name, start), end in zip(marks, ends, strict=True)]


def _op_label(op: OpTiming) -> str:
    return op.name.split(" | ", 1)[-1]


def breakdown(t: Timeline) -> list[Part]:
    """The run's parts in the order they first happened; their seconds add up to the run."""
    # (priority, label, start, end): at each instant the lowest priority going on counts.
    intervals = [(0, f"step {op.step}", op.start, op.end) for op in t.ops]
    for rank, (key, label) in enumerate(SPANS.items(), start=1):
        intervals += [(rank, label, s.start, s.end) for s in t.spans if s.name == key]
    intervals += [(len(SPANS) + 1, label, s, e) for label, s, e in _outer_intervals(t)]
    bounds = sorted({time for _, _, s, e in intervals for time in (s, e)})
    seconds: dict[str, float] = {}
    first: dict[str, float] = {}
    for low, high in itertools.pairwise(bounds):
        going_on = [(rank, label) for rank, label, s, e in intervals if s <= low and e >= high]
        if not going_on:
            continue
        _, label = min(going_on)
        seconds[label] = seconds.get(label, 0.0) + high - low
        first.setdefault(label, low)
    parts = []
    for label in sorted(seconds, key=lambda name: first[name]):
        ops = [op for op in t.ops if f"step {op.step}" == label]
        slowest = max(ops, key=lambda op: op.end - op.start, default=None)
        name = _op_label(slowest) if slowest else ""
        took = slowest.end - slowest.start if slowest else 0.0
        parts.append(Part(label, seconds[label], len(ops), name, took))
    return parts


def median_parts(runs: Sequence[Sequence[Part]]) -> list[Part]:
    """Per part, the median over runs (a run without it counts 0 s), in the first run's order
    (parts that only later runs have come last); the slowest operation the first run
    names, with the median of its seconds in the runs that name it too."""
    order: dict[str, Part] = {}
    for run in runs:
        for part in run:
            order.setdefault(part.step, part)
    medians = []
    for step, part in order.items():
        values = [next((p.seconds for p in run if p.step == step), 0.0) for run in runs]
        took = [
            p.slowest_seconds
            for r in runs
            for p in r
            if p.step == step and p.slowest == part.slowest
        ]
        medians.append(
            Part(
                step,
                statistics.median(values),
                part.operations,
                part.slowest,
                statistics.median(took),
            )
        )
    return medians


def shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def steps_rows(parts: Sequence[Part], total: float) -> list[list[str]]:
    """Rows ``step | seconds | share of total | operations | slowest operation``."""
    return [
        [
            p.step,
            f"{p.seconds:.2f} s",
            f"{100 * p.seconds / total:.0f} %" if total else "–",
            str(p.operations) if p.operations else "–",
            shorten(f"{p.slowest_seconds:.2f} s: {p.slowest}") if p.slowest else "–",
        ]
        for p in parts
    ]


STEPS_HEADER = ["Part", "Seconds", "Share", "Operations", "Slowest operation"]
