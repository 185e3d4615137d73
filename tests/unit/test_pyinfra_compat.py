"""What this deploy relies on in pyinfra beyond its documented API (``pyinfra_compat``), and
the documented API it leans on hardest: a pyinfra upgrade that changes any of it fails here
first, naming it, instead of failing a run."""

from __future__ import annotations

import importlib
import inspect

import click
import pyinfra
import pyinfra.api.exceptions
from pyinfra.api import Config, Inventory, State
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.connect import connect_all
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.context import ctx_state
from pyinfra.operations import files, server

from etcd_cluster.engine.plan import once_per_run
from etcd_cluster.engine.pyinfra_compat import connector_arguments, operation_results, real_state
from etcd_cluster.engine.text_diff import color_diff
from etcd_cluster.errors import DeployInputError, RemoteReadError


def _state(**host_data: object) -> State:
    inventory = Inventory(([("h0", host_data)], {}))
    return State(inventory=inventory, config=Config())


def test_connector_arguments_come_from_host_data_as_in_an_operation():
    assert {"_sudo", "_sudo_user", "_env", "_stdin", "_timeout"} <= set(CONNECTOR_ARGUMENT_KEYS)
    state = _state(_sudo=True, _sudo_user="etcd", _env={"A": "1"}, _serial=True)
    arguments = connector_arguments(state.inventory.get_host("h0"))
    assert (arguments["_sudo"], arguments["_sudo_user"], arguments["_env"]) == (
        True,
        "etcd",
        {"A": "1"},
    )
    assert "_serial" not in arguments and set(arguments) <= set(CONNECTOR_ARGUMENT_KEYS)


def test_the_context_proxy_leads_to_the_real_state():
    state = _state()
    assert real_state(state) is state
    with ctx_state.use(state):
        assert real_state(pyinfra.state) is state
        built = once_per_run({}, pyinfra.state, lambda s: [s])
        assert built == [state] and built[0] is state


def test_operation_results_are_each_operation_on_the_host_once_it_ran():
    state = State(inventory=Inventory((["@local"], {})), config=Config())
    connect_all(state)
    local = state.inventory.get_host("@local")
    add_op(state, server.shell, commands=["true"])
    add_op(state, server.shell, commands=["true"], _if=lambda: False)
    (first, skipped) = operation_results(local)
    assert not first.is_complete()
    run_ops(state)
    assert first.is_complete() and first.did_change()
    assert skipped.is_complete() and not skipped.did_change()


def test_the_documented_api_the_deploy_uses_is_there():
    # "Writing Operations": an operation calls another with ``yield from <op>._inner(...)``.
    assert inspect.isgeneratorfunction(files.put._inner)
    # State's per-host getter, for which operations already ran (operations.changed_this_run).
    assert "get_op_data_for_host" in set(dir(State))


def test_errors_are_pyinfra_deploy_errors_not_local_io_errors():
    assert issubclass(DeployInputError, pyinfra.api.exceptions.DeployError)
    assert issubclass(RemoteReadError, pyinfra.api.exceptions.DeployError)
    assert not issubclass(RemoteReadError, OSError)


def test_color_diff_shows_removed_and_added_lines_with_context():
    old = ["a\n", "b\n", "c\n", "d\n"]
    new = ["a\n", "B\n", "c\n", "d\n", "e\n"]
    lines = [click.unstyle(line) for line in color_diff(old, new)]
    assert lines == ["@@ -1,4 +1,5 @@", "  a", "- b", "+ B", "  c", "  d", "+ e"]
    assert list(color_diff(old, old)) == []
    assert [click.unstyle(x) for x in color_diff(["--x\n"], [])] == ["@@ -1 +0,0 @@", "- --x"]


def test_the_fast_operation_order_is_pyinfras_from_the_same_stack(monkeypatch):
    """Called from the same line (in a greenlet, from a file compiled under another name, as
    pyinfra runs deploy files), both give the same line numbers: for the deploy file found
    on the stack and not, in CLI mode and not."""
    import gevent
    from pyinfra.api import util

    from etcd_cluster.engine import pyinfra_compat

    pyinfra_order = util.get_operation_order_from_stack
    state = _state()
    state.current_op_file_number = 7
    code = compile(
        "def nested(depth, both):\n    return nested(depth - 1, both) if depth else both()\n",
        "/srv/deploys/my_deploy.py",
        "exec",
    )
    scope: dict = {}
    exec(code, scope)

    orders = (pyinfra_order, pyinfra_compat.operation_order_from_stack)

    def both():  # one line, so the caller's frame is at the same line for both
        return [order(state) for order in orders]

    for cli in (True, False):
        monkeypatch.setattr(pyinfra, "is_cli", cli)
        for deploy_file in ("/srv/deploys/my_deploy.py", "/elsewhere.py", None):
            state.current_deploy_filename = deploy_file
            job = gevent.spawn(scope["nested"], 5, both)
            job.join()
            pyinfras, ours = job.value
            assert ours == pyinfras, (cli, deploy_file)
            found = deploy_file != "/elsewhere.py"  # None: the whole stack counts
            assert len(ours) >= 6 if found else len(ours) == int(cli), (cli, deploy_file)
    pyinfra_compat.use_fast_operation_order()
    operation = importlib.import_module("pyinfra.api.operation")
    assert operation.get_operation_order_from_stack is pyinfra_compat.operation_order_from_stack
