"""``poll``: every bounded wait (health, the quorum gate, etcd's transient refusals)."""

from __future__ import annotations

import time

import gevent

from etcd_cluster.engine.polling import poll, progress_while


def test_poll_returns_the_first_result_that_is_done():
    results = iter([1, 2, 3, 4])
    calls: list[int] = []

    def attempt() -> int:
        calls.append(1)
        return next(results)

    assert poll(attempt, lambda n: n == 3, timeout=5, interval=0) == 3
    assert len(calls) == 3


def test_poll_gives_up_after_the_timeout_with_the_last_result():
    started = time.monotonic()
    assert poll(lambda: "not yet", lambda r: False, timeout=0.3, interval=0.1) == "not yet"
    assert 0.3 <= time.monotonic() - started < 2


def test_poll_tries_once_even_with_no_time():
    assert poll(lambda: 7, lambda r: False, timeout=0, interval=1) == 7


class FakeClock:
    """Time that moves only when the poll sleeps (and a little per attempt)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_long_wait_says_what_it_waits_for_every_five_seconds_or_so():
    """Not in the first 5 s; then at the first check at least 5 s after the last line."""
    clock = FakeClock()
    lines: list[str] = []
    poll(
        lambda: "down",
        lambda r: False,
        timeout=20,
        interval=2,
        what="infra2 to report healthy",
        clock=clock,
        sleep=clock.sleep,
        say=lines.append,
    )
    assert lines == [  # checks at 0.1, 0.3, 0.7, 1.5, 3.1, 5.1 s, then every 2 s
        "waiting for infra2 to report healthy (5 s of 20 s)",
        "waiting for infra2 to report healthy (11 s of 20 s)",
        "waiting for infra2 to report healthy (17 s of 20 s)",
    ]


def test_retries_start_soon_and_back_off_to_the_interval():
    """What is awaited is often a fraction of a second away: 0.1 s, doubling, at most the
    interval (etcd_health_interval)."""
    clock = FakeClock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.sleep(seconds)

    poll(lambda: 0, lambda r: False, timeout=6, interval=1, clock=clock, sleep=sleep)
    assert waits == [0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1]
    waits.clear()
    poll(lambda: 0, lambda r: False, timeout=0.5, interval=0.2, clock=clock, sleep=sleep)
    assert waits[:3] == [0.1, 0.2, 0.2]  # an interval below the doubling caps it


def test_a_short_wait_and_an_unnamed_wait_say_nothing():
    for what, results in (("infra2 to report healthy", [1, 2, 3]), ("", [1] * 29 + [3])):
        clock = FakeClock()
        lines: list[str] = []
        answers = iter(results)
        poll(
            answers.__next__,
            lambda n: n == 3,
            timeout=60,
            interval=1,
            what=what,
            clock=clock,
            sleep=clock.sleep,
            say=lines.append,
        )
        assert lines == []


def test_a_slow_attempt_gets_one_line_not_a_burst():
    clock = FakeClock()
    lines: list[str] = []

    def slow() -> str:
        clock.sleep(17)  # e.g. a probe that hit its own timeout
        return "down"

    poll(
        slow,
        lambda r: False,
        timeout=30,
        interval=1,
        what="quorum",
        clock=clock,
        sleep=clock.sleep,
        say=lines.append,
    )
    assert lines == ["waiting for quorum (17 s of 30 s)"]


def test_progress_while_ticks_beside_a_blocking_command():
    """kubeadm init is one remote command: a greenlet beside it says it still runs."""
    lines: list[str] = []
    with progress_while("kubeadm init on cp-0 to finish", every=0.1, say=lines.append):
        gevent.sleep(0.35)  # the command, yielding to gevent as pyinfra's connectors do
    count = len(lines)
    gevent.sleep(0.25)
    assert 2 <= count <= 4
    assert len(lines) == count  # the ticker stopped with the command
    assert lines[0] == "waiting for kubeadm init on cp-0 to finish (0 s)"


def test_progress_while_names_the_bound_when_there_is_one():
    lines: list[str] = []
    with progress_while("infra1 to restart", timeout=900, every=0.1, say=lines.append):
        gevent.sleep(0.15)
    assert lines == ["waiting for infra1 to restart (0 s of 900 s)"]
