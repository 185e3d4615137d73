"""Any host's data with the package's defaults under it.

pyinfra applies ``@deploy(data_defaults=...)`` only to the host whose deploy is running;
the plan also reads the first member's (and the lb and control-plane hosts') data from
whichever host builds it. So those reads fall back to ``DEFAULTS`` themselves: a deploy
file outside this repository (no ``group_data/all.py``) gets the same settings.
"""

from __future__ import annotations

from typing import Any

from pyinfra.api.host import Host

from etcd_cluster.defaults import DEFAULTS


def data_of(target: Host, key: str) -> Any:
    """``target``'s value of ``key``: inventory, group data, ``--data``, else the default."""
    return target.data.get(key, DEFAULTS.get(key))
