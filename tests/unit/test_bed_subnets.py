"""Every end-to-end module's bed has a subnet of its own: the files run at once
(pytest-xdist), and two beds on one subnet make dockerd refuse the second network."""

from __future__ import annotations

import re
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"
SUBNET = re.compile(r"subnet_index=(\d+)|^SUBNET = (\d+)", re.M)


def test_each_e2e_module_has_its_own_subnet():
    owners: dict[int, list[str]] = {}
    for module in sorted(E2E.glob("test_*.py")):
        for match in SUBNET.finditer(module.read_text()):
            owners.setdefault(int(match.group(1) or match.group(2)), []).append(module.name)
    assert owners, "no bed found"
    shared = {index: names for index, names in owners.items() if len(names) > 1}
    assert not shared, shared
