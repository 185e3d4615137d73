"""Private keys made ahead, side by side in native threads, for a plan that needs several.

A first deploy makes a dozen keys (the CA's, three per member, the API server's client);
an RSA-2048 key takes about 0.1 s of one core, so they were most of a cold deploy's
prepare phase. cryptography releases the GIL while OpenSSL makes a key, so native threads
make them at once on every core, and while the members' surveys are still answering;
pyinfra's CLI patches ``threading`` for gevent, hence gevent's pool of real threads.
Only keys the plan is sure to make are asked for (``certs.plan.missing_keys``), each
member's as soon as its survey shows its files missing: a run that makes no key starts
no thread. Keys live in memory only, as before; one not taken is dropped with the pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gevent.threadpool import ThreadPool

MAX_THREADS = 32


class KeysAhead:
    """Keys of ``algorithm`` being made by ``make`` in a pool of native threads, as many as
    asked for with ``more``."""

    def __init__(self, make: Callable[[str], Any], algorithm: str) -> None:
        self.algorithm = algorithm
        self.asked = 0
        self._make = make
        # a thread per key, started as keys are asked for: gevent's spawn waits while every
        # thread is busy, and the plan needs all the keys anyway (the cores share the work)
        self._pool = ThreadPool(MAX_THREADS)
        self._results: deque = deque()

    def more(self, count: int) -> None:
        """Start making ``count`` more keys (none for 0 or less). From the hub's thread."""
        for _ in range(count):
            self._results.append(self._pool.spawn(self._make, self.algorithm))
            self.asked += 1

    def take(self, algorithm: str) -> Any | None:
        """The next key made ahead (waiting for it if needed); None when none is left or
        it is another algorithm (the caller makes its own)."""
        if algorithm != self.algorithm or not self._results:
            return None
        return self._results.popleft().get()

    def close(self) -> None:
        """Drop the keys not taken; a key being made finishes in its thread, unused."""
        self._results.clear()
        self._pool.kill()


_current: list[KeysAhead] = []


@contextmanager
def made_ahead(make: Callable[[str], Any], algorithm: str) -> Iterator[KeysAhead]:
    """Inside the block, ``take`` hands out the keys asked for with ``KeysAhead.more``."""
    ahead = KeysAhead(make, algorithm)
    _current.append(ahead)
    try:
        yield ahead
    finally:
        _current.remove(ahead)
        ahead.close()


def take(algorithm: str) -> Any | None:
    """A key made ahead for the plan being built, or None (then make one now)."""
    return _current[-1].take(algorithm) if _current else None
