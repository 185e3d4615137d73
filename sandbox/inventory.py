"""The demo sandbox's inventory, for `pyinfra sandbox/inventory.py deploy.py` (`./demo.sh deploy`).

The members recorded by `./demo.sh up` (``.sandbox.json``), reached through pyinfra's
``@docker/<name>`` connector, with the systemd runtime. Your own hosts go in the top-level
``inventory.py``.
"""

from sandbox import inventory_hosts

etcd = inventory_hosts()
