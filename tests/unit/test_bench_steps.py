"""The cold deploy's per-step breakdown (``bench.steps``): a timeline cut into parts that add
up to the run, each instant counted once for the innermost thing going on.

The timelines come from real runs (``bench.timed_pyinfra``); what turns them into the
report's figures is checked here on made-up timelines, where every part is known.
"""

from __future__ import annotations

import importlib
import json

import pytest

from bench import steps, timed_pyinfra
from bench.report import report
from bench.steps import OpTiming, Part, Span, Timeline, breakdown, median_parts, steps_rows
from tests.unit.test_benchmark import size_figures, table


def timeline() -> Timeline:
    """Launch at 0, exit at 10; two greenlets survey, two keys inside the certificates."""
    return Timeline(
        launched=0.0,
        ended=10.0,
        stages={"connect": 1.0, "prepare": 2.0, "execute": 5.0, "disconnect": 9.0},
        spans=[
            Span("plan", 2.2, 4.8),
            Span("survey", 2.5, 3.0),
            Span("survey", 2.6, 2.9),
            Span("certificates", 3.0, 4.5),
            Span("key", 3.1, 3.5),
            Span("key", 3.6, 4.0),
        ],
        ops=[
            OpTiming("run_lock", "etcd cluster | Take the run lock", 5.0, 5.5),
            OpTiming("certificates", "etcd cluster | Directories", 5.5, 6.0),
            OpTiming("certificates", "etcd cluster | Install the CA and keys", 6.0, 6.6),
            OpTiming("start_etcd", "etcd cluster | Start etcd", 6.7, 8.7),
        ],
    )


def seconds(parts: list[Part]) -> dict[str, float]:
    return {p.step: round(p.seconds, 6) for p in parts}


def test_each_instant_counts_once_for_the_innermost_part_and_the_parts_add_up():
    parts = breakdown(timeline())
    assert seconds(parts) == {
        "start-up (Python, pyinfra, inventory)": 1.0,
        "connect": 1.0,
        "prepare: deploy files (the rest)": 0.4,
        "prepare: plan (checks, decisions)": 0.6,
        "prepare: survey (one command per member)": 0.5,
        "prepare: certificates (signing, checks)": 0.7,
        "prepare: key generation": 0.8,
        "step run_lock": 0.5,
        "step certificates": 1.1,
        "execute: between operations": 0.4,
        "step start_etcd": 2.0,
        "results, disconnect, exit": 1.0,
    }
    assert sum(p.seconds for p in parts) == pytest.approx(10.0)
    # in the order they first happened
    assert [p.step for p in parts][:3] == [
        "start-up (Python, pyinfra, inventory)",
        "connect",
        "prepare: deploy files (the rest)",
    ]


def test_a_step_names_its_operations_and_the_slowest_without_the_deploy_prefix():
    certificates = next(p for p in breakdown(timeline()) if p.step == "step certificates")
    assert certificates.operations == 2
    assert certificates.slowest == "Install the CA and keys"
    assert certificates.slowest_seconds == pytest.approx(0.6)


def test_work_done_in_the_background_shows_only_as_the_wait_left():
    t = timeline()
    t.spans = [s for s in t.spans if s.name != "key"] + [Span("key", 4.0, 4.1)]
    parts = seconds(breakdown(t))
    assert parts["prepare: key generation"] == pytest.approx(0.1)
    assert parts["prepare: certificates (signing, checks)"] == pytest.approx(1.4)


def test_a_run_that_failed_before_executing_still_adds_up():
    t = Timeline(0.0, 3.0, {"connect": 1.0, "prepare": 2.0}, [Span("plan", 2.0, 2.5)], [])
    parts = seconds(breakdown(t))
    assert parts == {
        "start-up (Python, pyinfra, inventory)": 1.0,
        "connect": 1.0,
        "prepare: plan (checks, decisions)": 0.5,
        "prepare: deploy files (the rest)": 0.5,
    }


def test_medians_per_part_count_a_missing_part_as_zero():
    runs = [
        [Part("a", 1.0), Part("b", 2.0, 1, "x", 1.0)],
        [Part("a", 3.0), Part("b", 4.0, 1, "y", 9.0)],
        [Part("a", 2.0), Part("c", 9.0), Part("b", 1.0, 1, "x", 3.0)],
    ]
    # b's slowest operation as the first run names it: the median of x's seconds only
    assert median_parts(runs) == [Part("a", 2.0), Part("b", 2.0, 1, "x", 2.0), Part("c", 0.0)]


def test_rows_show_seconds_share_operations_and_the_slowest_one_shortened():
    rows = steps_rows([Part("step start_etcd", 2.0, 5, "x" * 80, 1.8), Part("connect", 0.5)], 8.0)
    assert rows[0][:4] == ["step start_etcd", "2.00 s", "25 %", "5"]
    assert (
        len(rows[0][4]) == 60 and rows[0][4].startswith("1.80 s: xxx") and rows[0][4].endswith("…")
    )
    assert rows[1] == ["connect", "0.50 s", "6 %", "–", "–"]


def test_the_wrappers_record_reads_back_as_a_timeline():
    recorder = timed_pyinfra.Recorder()
    recorder.stages = {"connect": 1.0, "execute": 2.0}
    recorder.spans = [("key", 1.2, 1.3)]
    recorder.ops = [("health", "etcd cluster | Healthy", 2.0, 2.5)]
    data = json.loads(json.dumps(recorder.as_json()))
    t = Timeline.from_json(data, launched=0.5, ended=3.0)
    assert t.spans == [Span("key", 1.2, 1.3)]
    assert t.ops == [OpTiming("health", "etcd cluster | Healthy", 2.0, 2.5)]
    assert sum(p.seconds for p in breakdown(t)) == pytest.approx(2.5)


@pytest.mark.parametrize(("span", "module", "function"), timed_pyinfra.WATCHED)
def test_every_function_the_wrapper_times_exists_where_the_deploy_calls_it(span, module, function):
    assert span in steps.SPANS
    assert callable(getattr(importlib.import_module(module), function))


def test_the_report_has_a_per_step_table_for_a_size_with_timelines():
    figures = size_figures(3, 2.0)
    figures.cold_timelines = [timeline(), timeline()]
    body = report([figures], 3, 2, "test machine", 60.0)
    rows = table(body, "Where the cold deploy's time goes, 3 members over docker")
    start = next(row for row in rows if row[0] == "step start_etcd")
    # 2 s of the median cold deploy (15 s)
    assert start[1:4] == ["2.00 s", "13 %", "1"]
    assert "Where the cold deploy's time goes" not in report([size_figures(3, 2.0)], 3, 2, "m", 1.0)
