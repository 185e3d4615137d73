"""The one place this deploy relies on pyinfra beyond its documented API.

Everything else uses pyinfra's public API: operations (``files.put._inner`` is how
pyinfra's "Writing Operations" documents calling an operation from another), facts,
``Host``/``State``/``Inventory`` methods and ``OperationMeta``. What is left has no
public equivalent, plus one replacement: pyinfra's operation ordering, the same result
without ``inspect.stack()`` (``operation_order_from_stack``). ``tests/unit/
test_pyinfra_compat.py`` fails loudly when a pyinfra upgrade changes any of it.
"""

from __future__ import annotations

import importlib
import sys
from types import FrameType
from typing import Any

import pyinfra
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State
from pyinfra.api.util import PYINFRA_INSTALL_DIR


def connector_arguments(host: Host) -> dict[str, Any]:
    """The connector arguments (``_sudo``, ``_sudo_user``, ``_env``, ...) that ``host``'s
    data sets, as an operation on it would get them: commands sent outside an operation
    (the survey, the quiet channel) run as the operator configured, for example with sudo.

    pyinfra resolves these only inside its operation machinery; there is no public call.
    """
    arguments, _ = pop_global_arguments(host.state, host, {})
    return {key: value for key, value in arguments.items() if key in CONNECTOR_ARGUMENT_KEYS}


def operation_results(host: Host) -> list[OperationMeta]:
    """The result of each operation pyinfra has on ``host`` so far, in the order called
    (``OperationMeta``, public: ``is_complete()``, ``did_change()``): which ones already
    changed the host. The list of a host's operations (``Host.op_hash_order``) is not
    documented; ``State.get_op_data_for_host`` is a public getter.
    """
    state = host.state
    results = []
    for op_hash in host.op_hash_order:
        try:
            results.append(state.get_op_data_for_host(host, op_hash).operation_meta)
        except KeyError:  # an operation whose arguments were refused has no data
            continue
    return results


def real_state(state: State) -> State:
    """The ``State`` itself, also when given the ``pyinfra.state`` context proxy that deploy
    files see (one run's shared plan must be found from both). ``State`` sets itself as its
    inventory's ``state``; the proxy passes attribute reads through to the current State.
    """
    return state.inventory.state


def operation_order_from_stack(state: State) -> list[int]:
    """pyinfra's ``get_operation_order_from_stack``, the same list from the frames alone.

    pyinfra orders each operation by the line numbers of its call stack, read with
    ``inspect.stack()``: that loads every frame's source lines, and a frame whose file is
    no module (a deploy file, gevent's compiled code) makes ``inspect`` scan all of
    ``sys.modules`` each time: tens of ms per operation call, from a deploy as deep as
    this one, and most of a cold run's controller time. ``getframeinfo``'s filename and
    line number are the code object's ``co_filename`` and the frame's ``f_lineno``, so the
    result is the same (``tests/unit/test_pyinfra_compat.py`` compares the two).
    """
    own = sys._getframe(0)  # stands where pyinfra's own frame stood: innermost, skipped
    frames = []
    frame: FrameType | None = own
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()  # outermost first, as pyinfra reverses inspect.stack()
    i = 0
    if state.current_deploy_filename:
        for i, item in enumerate(frames):  # noqa: B007 - i as pyinfra leaves it
            if item.f_code.co_filename == state.current_deploy_filename:
                break
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    for item in frames[i:]:
        if item is not own and not item.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR):
            line_numbers.append(item.f_lineno)
    return line_numbers


def use_fast_operation_order() -> None:
    """Have pyinfra order operations with ``operation_order_from_stack`` (every operation
    call in the run, this deploy's and any the operator's deploy file adds)."""
    # the module, not the ``operation`` decorator pyinfra.api exports under the same name
    module = importlib.import_module("pyinfra.api.operation")
    setattr(module, "get_operation_order_from_stack", operation_order_from_stack)  # noqa: B010
