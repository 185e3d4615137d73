"""The benchmark's tables: medians, the ratios to their floors, and each ratio's target.

Every ratio stands next to its target and whether it is met, so a reader sees
pass or fail without knowing issue 19 by heart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.figures import (
    COLD_OVER_BOTH_FLOORS,
    COLD_OVER_PYINFRA_FLOOR,
    COMMANDS_PER_HOST,
    NOOP_LARGEST_OVER_SMALLEST,
    NOOP_OVER_PYINFRA_FLOOR,
    SizeFigures,
    Target,
)
from bench.steps import STEPS_HEADER, breakdown, median_parts, steps_rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded to line up, so it also reads well in a terminal."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def duration(samples: Sequence[float], digits: int = 1) -> str:
    return f"{statistics.median(samples):.{digits}f} s"


def judged(ratio: float, target: Target) -> list[str]:
    """The cells ``ratio | target | met``."""
    return [f"{ratio:.2f}×", str(target), target.met(ratio)]


def spread(values: Sequence[int]) -> str:
    """``28`` when every host saw the same count, ``27–28`` otherwise."""
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def over_floor(
    size: int, connector: str, figure: Sequence[float], floor: Sequence[float], target: Target
) -> list[str]:
    """A row ``size | connector | figure | floor | figure ÷ floor | target | met``."""
    ratio = statistics.median(figure) / statistics.median(floor)
    return [str(size), connector, duration(figure), duration(floor, 2), *judged(ratio, target)]


def cold_table(results: Sequence[SizeFigures]) -> str:
    """Against both floors together (no deploy run through pyinfra can beat a pyinfra run
    plus etcd's own bootstrap) and against the pyinfra floor alone on the same fresh hosts,
    each with its target; against etcd's floor alone for context."""
    rows = []
    for f in results:
        cold, etcd = statistics.median(f.cold), statistics.median(f.etcd_floor)
        pyinfra = statistics.median(f.fresh_floor)
        rows.append(
            [
                str(f.size),
                f.cold_connector,
                duration(f.cold),
                duration(f.fresh_floor, 2),
                duration(f.etcd_floor, 2),
                *judged(cold / (pyinfra + etcd), COLD_OVER_BOTH_FLOORS),
                *judged(cold / pyinfra, COLD_OVER_PYINFRA_FLOOR),
                f"{cold / etcd:.2f}×",
            ]
        )
    header = ["Members", "Connector", "Cold deploy", "pyinfra floor", "etcd floor"]
    header += ["Cold ÷ (pyinfra + etcd floors)", "Target", "Met"]
    header += ["Cold ÷ pyinfra floor", "Target", "Met", "Cold ÷ etcd floor"]
    return markdown_table(header, rows)


def cold_steps_section(f: SizeFigures) -> str:
    """Where the cold deploy's time went on ``f.size`` members (``bench.steps``): per part,
    the median over the cold deploys, as a share of their median."""
    parts = median_parts([breakdown(t) for t in f.cold_timelines])
    table = markdown_table(STEPS_HEADER, steps_rows(parts, statistics.median(f.cold)))
    return (
        f"Where the cold deploy's time goes, {f.size} members over {f.cold_connector} "
        f"(medians of {len(f.cold_timelines)}, share of the median cold deploy):\n\n{table}"
    )


def noop_table(results: Sequence[SizeFigures]) -> str:
    rows = [
        over_floor(f.size, c.connector, c.noop, c.pyinfra_floor, NOOP_OVER_PYINFRA_FLOOR)
        for f in results
        for c in f.connectors
    ]
    header = ["Members", "Connector", "No-op rerun", "pyinfra floor", "No-op ÷ pyinfra floor"]
    return markdown_table([*header, "Target", "Met"], rows)


def scaling_table(results: Sequence[SizeFigures]) -> str | None:
    """No-op on the largest size ÷ on the smallest, per connector; None with one size."""
    small = min(results, key=lambda f: f.size)
    large = max(results, key=lambda f: f.size)
    if small.size == large.size:
        return None
    rows = []
    for low in small.connectors:
        high = next(c for c in large.connectors if c.connector == low.connector)
        ratio = statistics.median(high.noop) / statistics.median(low.noop)
        rows.append(
            [
                low.connector,
                duration(low.noop),
                duration(high.noop),
                *judged(ratio, NOOP_LARGEST_OVER_SMALLEST),
                growth(low.pyinfra_floor, high.pyinfra_floor),
                growth(low.noop_cpu, high.noop_cpu),
                growth(low.floor_cpu, high.floor_cpu),
            ]
        )
    of = f"{large.size} ÷ {small.size}"
    header = ["Connector", f"No-op on {small.size}", f"No-op on {large.size}", of]
    context = [f"pyinfra floor, {of}", f"pyinfra's CPU, no-op, {of}", f"pyinfra's CPU, floor, {of}"]
    return markdown_table([*header, "Target", "Met", *context], rows)


def growth(low: Sequence[float], high: Sequence[float]) -> str:
    """Median of ``high`` ÷ median of ``low``; "–" when either was not measured."""
    if not low or not high:
        return "–"
    return f"{statistics.median(high) / statistics.median(low):.2f}×"


def commands_table(results: Sequence[SizeFigures]) -> str:
    rows = []
    for f in results:
        for c in f.connectors:
            hosts = sorted(c.counts.commands)
            commands = [c.counts.commands[h] for h in hosts]
            rows.append(
                [
                    str(f.size),
                    c.connector,
                    spread(commands),
                    str(COMMANDS_PER_HOST),
                    COMMANDS_PER_HOST.met(max(commands)),
                    spread([c.counts.transfers[h] for h in hosts]),
                    str(c.counts.other),
                ]
            )
    header = ["Members", "Connector", "Commands per host", "Target", "Met"]
    return markdown_table([*header, "Transfers per host", "Other (whole run)"], rows)


def report(
    results: Sequence[SizeFigures],
    repeats: int,
    cold_repeats: int,
    machine_line: str,
    seconds: float,
    extra: Sequence[str] = (),
) -> str:
    """The tables and the machine: printed as is, and the body of the Markdown file;
    ``extra`` sections (the lifecycle table) go before the machine."""
    sections = [
        f"Cold deploy (median of {cold_repeats} fresh bed(s)) and etcd floor "
        f"(median of {repeats}):\n\n{cold_table(results)}",
        *(cold_steps_section(f) for f in results if f.cold_timelines),
        f"No-op rerun and pyinfra floor, medians of {repeats} run(s) each, "
        f"on the same bed:\n\n{noop_table(results)}",
    ]
    scaling = scaling_table(results)
    if scaling is not None:
        sections.append(f"No-op rerun, largest cluster ÷ smallest (medians above):\n\n{scaling}")
    sections += [
        "Remote commands per host on the no-op rerun (min–max over hosts; transfers: "
        f"`docker cp` calls, or sftp sessions over ssh):\n\n{commands_table(results)}",
        *extra,
        f"Machine: {machine_line}",
        f"The whole run (beds included) took {seconds / 60:.1f} min.\n",
    ]
    return "\n\n".join(sections)
