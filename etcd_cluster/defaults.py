"""Every setting's default, as ``data_defaults`` for the package's ``@deploy`` functions.

A stand-in until issue 16's one table lands: the values of ``group_data/all.py`` (which
the wheel carries as ``etcd_cluster/share/group_data/all.py``), so a deploy importing
the package gets the same defaults as ``pyinfra inventory.py deploy.py`` in a checkout.
"""

from __future__ import annotations

import runpy
from typing import Any

from etcd_cluster.layout import ROOT

DEFAULTS: dict[str, Any] = {
    key: value
    for key, value in runpy.run_path(str(ROOT / "group_data" / "all.py")).items()
    if not key.startswith("_")
}
