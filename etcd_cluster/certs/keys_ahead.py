"""Private keys made ahead, side by side in native threads, for a plan that needs several.

A first deploy makes a dozen keys (the CA's, four per member); an RSA-2048 key takes about
0.1 s of one core, so they were most of a cold deploy's prepare phase. cryptography
releases the GIL while OpenSSL makes a key, so native threads make them at once on every
core; pyinfra's CLI patches ``threading`` for gevent, hence gevent's pool of real threads.
Only keys the plan is sure to make are made ahead (``certs.plan.missing_keys``): a run that
makes no key starts no thread. Keys live in memory only, as before; one not taken is
dropped with the pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gevent.threadpool import ThreadPool

MAX_THREADS = 32


class KeysAhead:
    """``count`` keys of ``algorithm`` being made by ``make`` in a pool of native threads."""

    def __init__(self, make: Callable[[str], Any], algorithm: str, count: int) -> None:
        self.algorithm = algorithm
        # a thread per key: gevent's spawn waits while every thread is busy, and the plan
        # needs all the keys anyway (the cores share the work the same)
        self._pool = ThreadPool(max(1, min(count, MAX_THREADS)))
        self._results = deque(self._pool.spawn(make, algorithm) for _ in range(count))

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
def made_ahead(make: Callable[[str], Any], algorithm: str, count: int) -> Iterator[None]:
    """Inside the block, ``take`` hands out ``count`` keys made ahead (none for fewer than
    two keys: one key gains nothing from a thread)."""
    if count < 2:
        yield
        return
    ahead = KeysAhead(make, algorithm, count)
    _current.append(ahead)
    try:
        yield
    finally:
        _current.remove(ahead)
        ahead.close()


def take(algorithm: str) -> Any | None:
    """A key made ahead for the plan being built, or None (then make one now)."""
    return _current[-1].take(algorithm) if _current else None
