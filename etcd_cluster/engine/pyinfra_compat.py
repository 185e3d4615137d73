"""The one place this deploy relies on pyinfra beyond its documented API.

Everything else uses pyinfra's public API: operations (``files.put._inner`` is how
pyinfra's "Writing Operations" documents calling an operation from another), facts,
``Host``/``State``/``Inventory`` methods and ``OperationMeta``. What is left has no
public equivalent; ``tests/unit/test_pyinfra_compat.py`` fails loudly when a pyinfra
upgrade changes any of it.
"""

from __future__ import annotations

from typing import Any

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State


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
