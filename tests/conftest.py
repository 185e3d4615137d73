"""Run-wide reporting shared by the unit and end-to-end tests."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the requests the write/read poller sent again (``ClusterPoller``): etcd's
    unknown-outcome answers at a member's restart, counted rather than hidden."""
    lines = [
        f"{report.nodeid}: {line}"
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "poller_sent_again"
        for line in value
    ]
    if lines:
        terminalreporter.write_sep("-", f"requests the poller sent again: {len(lines)}")
        for line in lines:
            terminalreporter.write_line(line)
