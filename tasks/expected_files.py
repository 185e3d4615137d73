"""Step 6: every file the guide lists for this member is in place, with its mode.

Checked on the host after distribution (from the certificate table), so a failed
write or a stray file cannot pass unnoticed; the run fails naming what is wrong. When
steps 3 to 5 wrote here, their command read the files back in the same round trip.
When steps 3 to 5 wrote nothing here, the survey's reading of the same files is
that check, and no operation is needed. For a new cluster, the command that writes them
and starts etcd checks them before it starts anything (``operations.modes_gate``).
"""

from pyinfra import host, state

from etcd_cluster.engine.operations import (
    expected_files_present,
    expected_modes,
    file_mode_problems,
)
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)
    if plan.one_upload(host.name):
        return  # checked in the command that writes them, before it starts etcd
    expected, absent = expected_modes(plan, host)

    surveyed = plan.host_states[host.name].modes([*expected, *absent])
    if (
        surveyed is None
        or file_mode_problems(expected, absent, surveyed)
        or plan.for_host(host).pending()
        or not plan.survey_holds(host.name)
    ):
        expected_files_present(
            name="The guide's expected files are in place", expected=expected, absent=absent
        )
