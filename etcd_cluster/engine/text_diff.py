"""A coloured line diff for ``--diff``: as pyinfra shows a template's change, red lines
removed and green lines added, with two lines of context (stdlib ``difflib``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from itertools import islice

import click


def color_diff(old: list[str], new: list[str]) -> Iterator[str]:
    """The change from ``old`` to ``new`` (lines, newlines kept or not), one line at a time."""
    diff = difflib.unified_diff(old, new, n=2, lineterm="")
    for line in islice(diff, 2, None):  # the first two are the ---/+++ file header
        text = line.rstrip("\n")
        if text.startswith("@@"):
            yield text
        elif text.startswith("+"):
            yield click.style(f"+ {text[1:]}", "green")
        elif text.startswith("-"):
            yield click.style(f"- {text[1:]}", "red")
        else:
            yield f"  {text[1:]}"
