"""Bounded waiting: try, and try again every interval, until done or out of time.

Health waits, the quorum gate, etcd's transient refusals (a learner still catching
up) and the cluster version after an upgrade all wait the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(attempt: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float) -> T:
    """Call ``attempt`` until ``done(result)`` or ``timeout`` seconds passed; the last result.

    The first attempt is made at once, and always at least one.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if done(result) or time.monotonic() >= deadline:
            return result
        time.sleep(interval)
