"""The retention tiers (``scripts/snapshot_tiers.sh``), run under a real ``sh`` and awk:
the one definition the backup script uses for its directory and for its remote."""

from __future__ import annotations

import calendar
import subprocess
import time

from etcd_cluster import scripts


def tiers(found: dict[str, str], last=0, hourly=0, daily=0, weekly=0, saved="") -> set[str]:
    """The names removed among ``found`` (``{name: "YYYY-mm-dd HH:MM:SS" UTC}``)."""
    lines = "".join(
        f"{calendar.timegm(time.strptime(when, '%Y-%m-%d %H:%M:%S'))} {name}\n"
        for name, when in found.items()
    )
    done = subprocess.run(
        ["sh", "-c", scripts.text("snapshot_tiers"), "snapshot_tiers"]
        + [str(n) for n in (last, hourly, daily, weekly)]
        + [saved],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return set(done.stdout.split())


# Wednesday 2026-12-02 and the days and weeks before it: several per hour, per day.
FOUND = {
    "h3b": "2026-12-02 03:40:00",  # newest
    "h3a": "2026-12-02 03:05:00",
    "h2": "2026-12-02 02:10:00",
    "h0": "2026-12-02 00:00:01",
    "d1b": "2026-12-01 23:59:59",  # Tuesday
    "d1a": "2026-12-01 08:00:00",
    "d0": "2026-11-30 00:00:00",  # Monday: the week's first day
    "w1": "2026-11-29 23:00:00",  # Sunday: the week before
    "w1a": "2026-11-24 12:00:00",
    "w2": "2026-11-19 12:00:00",
    "w5": "2026-10-28 12:00:00",
}


def test_each_tier_keeps_the_newest_of_its_newest_periods():
    everything = set(FOUND)
    assert everything - tiers(FOUND, hourly=3) == {"h3b", "h2", "h0"}
    assert everything - tiers(FOUND, daily=3) == {"h3b", "d1b", "d0"}
    assert everything - tiers(FOUND, weekly=3) == {"h3b", "w1", "w2"}
    assert everything - tiers(FOUND, last=2) == {"h3b", "h3a"}


def test_tiers_add_up_and_a_snapshot_kept_by_one_still_counts_for_the_others():
    kept = set(FOUND) - tiers(FOUND, hourly=2, daily=2, weekly=4)
    # hours: h3b h2; days: h3b (Wed), d1b (Tue); weeks: h3b, w1, w2, w5
    assert kept == {"h3b", "h2", "d1b", "w1", "w2", "w5"}


def test_periods_are_those_that_have_a_snapshot_not_the_clocks():
    # 24 hourly reaches back weeks here: each of these hours but one has a single snapshot
    assert tiers(FOUND, hourly=24, daily=7, weekly=4) == {"h3a"}


def test_the_snapshot_just_made_stays_whatever_its_time():
    stepped_back = {**FOUND, "new": "2001-01-01 00:00:00"}
    assert "new" not in tiers(stepped_back, hourly=1, saved="new")
    assert "new" in tiers(stepped_back, hourly=1)


def test_ties_and_empty_input():
    same = {"b": "2026-12-02 03:00:00", "a": "2026-12-02 03:00:00"}
    assert tiers(same, hourly=1) == {"a"}  # same time: the later name is the newer
    assert tiers({}, hourly=1) == set()
    assert tiers(FOUND) == set(FOUND)  # no tier and nothing saved: nothing kept
