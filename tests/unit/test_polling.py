"""``poll``: every bounded wait (health, the quorum gate, etcd's transient refusals)."""

from __future__ import annotations

import time

from etcd_cluster.polling import poll


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
