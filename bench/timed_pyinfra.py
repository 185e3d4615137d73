"""pyinfra's CLI, unchanged, with a timeline of the run written to ``$ETCD_BENCH_TIMELINE``.

    ETCD_BENCH_TIMELINE=/tmp/t.json python -m bench.timed_pyinfra -y inventory.py deploy.py

The benchmark runs its cold deploys through this, to say where their time goes
(:mod:`bench.steps`).  It only watches: a pyinfra state callback handler records each
operation's start and end, each stage's start, and the step of ``tasks/`` that called each
operation (``etcd_cluster.deploys.step`` is wrapped); the prepare phase's own work (the
survey, key generation, certificates, the plan) is timed by wrapping the functions that do
it.  What the deploy does is the same; the cost is a few clock readings per operation.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from pyinfra.api.state import BaseStateCallback, State, StateStage

TIMELINE_ENV = "ETCD_BENCH_TIMELINE"

PLAN = "etcd_cluster.engine.plan"
WATCHED = (
    ("plan", PLAN, "_build"),
    ("survey", PLAN, "read_member"),
    ("certificates", PLAN, "choose_ca"),
    ("certificates", PLAN, "plan_member"),
    ("key", "etcd_cluster.certs.pki", "generate_key"),
)
"""(span, module, function): timed where the deploy calls it (a module global)."""


class Recorder(BaseStateCallback):
    """Collects the run's timeline (times since the epoch: the benchmark's clock too)."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.spans: list[tuple[str, float, float]] = []
        self.ops: list[tuple[str, str, float, float]] = []
        self.op_steps: dict[str, str] = {}
        self._started: dict[str, float] = {}

    def operation_start(self, state: State, op_hash: str) -> None:  # type: ignore[override]
        self._started[op_hash] = time.time()

    def operation_end(self, state: State, op_hash: str) -> None:  # type: ignore[override]
        names = sorted(state.get_op_meta(op_hash).names)
        step = self.op_steps.get(op_hash, "?")
        self.ops.append((step, names[0] if names else op_hash, self._started[op_hash], time.time()))

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spans.append((name, start, time.time()))

        return wrapper

    def as_json(self) -> dict[str, Any]:
        return {"stages": self.stages, "spans": self.spans, "ops": self.ops}


class _TimedStep:
    """A step module whose ``run()`` notes which operations it added."""

    def __init__(self, recorder: Recorder, name: str, module: Any) -> None:
        self._recorder, self._name, self._module = recorder, name, module

    def run(self) -> None:
        from pyinfra import state

        before = set(state.op_meta)
        self._module.run()
        for op_hash in set(state.op_meta) - before:
            self._recorder.op_steps.setdefault(op_hash, self._name)


def install(recorder: Recorder) -> None:
    """Watch the run: stages and operations through pyinfra, spans by wrapping functions."""
    import importlib

    from etcd_cluster import deploys

    for name, module, function in WATCHED:
        target = importlib.import_module(module)
        setattr(target, function, recorder.timed(name, getattr(target, function)))
    real_step = deploys.step
    deploys.step = lambda name: _TimedStep(recorder, name, real_step(name))  # type: ignore
    real_set_stage = State.set_stage

    def set_stage(self: State, stage: StateStage) -> None:
        if recorder not in self.callback_handlers:
            self.add_callback_handler(recorder)
        recorder.stages.setdefault(stage.name.lower(), time.time())
        real_set_stage(self, stage)

    State.set_stage = set_stage  # type: ignore[method-assign]


def main() -> None:
    # First, as ``python -m pyinfra`` does: importing pyinfra's CLI patches the standard
    # library for gevent, and the deploy's modules (imported by ``install``) must see the
    # patched ``threading``, or their locks would not hold between greenlets.
    from pyinfra_cli.main import main as pyinfra_main

    recorder = Recorder()
    install(recorder)
    try:
        pyinfra_main()
    finally:
        path = os.environ.get(TIMELINE_ENV)
        if path:
            with open(path, "w") as out:
                json.dump(recorder.as_json(), out)


if __name__ == "__main__":
    sys.argv[0] = "pyinfra"
    main()
