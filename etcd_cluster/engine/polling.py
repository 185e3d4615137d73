"""Bounded waiting: try, and try again every interval, until done or out of time.

Health waits, the quorum gate, etcd's transient refusals (a learner still catching
up) and the cluster version after an upgrade all wait the same way. A wait that
lasts more than a few seconds says so, one line every ``PROGRESS_EVERY`` seconds,
naming what it waits for and for how long, so a long run never looks hung.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import gevent
from pyinfra import logger
from pyinfra.api.host import Host

T = TypeVar("T")

PROGRESS_EVERY = 5.0  # seconds between progress lines; none in the first ones
FIRST_RETRY = 0.1
"""Seconds before the second attempt; each later wait doubles, up to the interval: what
is awaited (a restarted member answering, a learner caught up) is often a fraction of a
second away, and a whole interval's wait was most of a lifecycle operation's own time."""


@dataclass
class Progress:
    """Says ``waiting for <what> (12 s of 120 s)`` once every ``every`` seconds."""

    what: str
    timeout: float | None = None
    every: float = PROGRESS_EVERY
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = logger.info
    started: float = field(init=False)
    next_line: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.next_line = self.started + self.every

    def line(self, elapsed: float) -> str:
        of = f" of {self.timeout:.0f} s" if self.timeout is not None else ""
        return f"waiting for {self.what} ({elapsed:.0f} s{of})"

    def tick(self) -> None:
        """Say how long it has been, when the next line is due (and only when a
        description was given: an unnamed wait stays quiet)."""
        now = self.clock()
        if not self.what or now < self.next_line:
            return
        self.say(self.line(now - self.started))
        self.next_line = now + self.every  # never two lines closer than ``every``


def on(target: Host) -> Callable[[str], None]:
    """Progress lines prefixed with the host that waits, as pyinfra prefixes its own:
    the same wait often runs on every member at once."""

    def say(line: str) -> None:
        target.log_styled(line, log_func=logger.info)

    return say


def poll(
    attempt: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    interval: float,
    what: str = "",
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = logger.info,
) -> T:
    """Call ``attempt`` until ``done(result)`` or ``timeout`` seconds passed; the last result.

    The first attempt is made at once, and always at least one; the waits between them
    start at ``FIRST_RETRY`` and double up to ``interval``. ``what`` names what is
    awaited for the progress lines ("infra2 to report healthy").
    """
    progress = Progress(what, timeout, clock=clock, say=say)
    deadline = clock() + timeout
    wait = min(FIRST_RETRY, interval)
    while True:
        result = attempt()
        if done(result) or clock() >= deadline:
            return result
        sleep(wait)
        wait = min(wait * 2, interval)
        progress.tick()


@contextmanager
def progress_while(
    what: str,
    timeout: float | None = None,
    every: float = PROGRESS_EVERY,
    say: Callable[[str], None] = logger.info,
) -> Iterator[None]:
    """Progress lines while one long remote command runs (``kubeadm init``, a restart
    whose script waits for the new container, a joining member's start): a greenlet
    ticks beside it, since the command itself says nothing until it ends."""
    progress = Progress(what, timeout, every=every, say=say)

    def ticker() -> None:
        while True:
            gevent.sleep(min(1.0, every))
            progress.tick()

    job = gevent.spawn(ticker)
    try:
        yield
    finally:
        job.kill()
