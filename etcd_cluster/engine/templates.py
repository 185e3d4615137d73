"""Render a template under ``templates/`` the way pyinfra's ``files.template`` does.

Used for files that are not uploaded with ``files.template`` (the controller's
``etcd-external.yaml``) and by the unit tests, so both see exactly what hosts get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from etcd_cluster.layout import ROOT

_environment = Environment(
    loader=FileSystemLoader(str(ROOT)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def path(template: str) -> Path:
    """Where ``template`` is, whatever the current directory (for ``files.template``)."""
    return ROOT / template


def render(template: str, **context: Any) -> str:
    """``template`` is relative to the repository root, e.g. ``templates/etc/...j2``."""
    return _environment.get_template(template).render(**context)
