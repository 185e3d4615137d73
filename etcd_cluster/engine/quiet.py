"""Whether a run can change anything at all, decided from the survey before any operation.

A run that changes nothing still has to prove it: every member's files, units, keys
and running etcd as they should be. The survey has read all of that (one command per
member), so the answer is known before the first operation, and steps that exist only
to carry out changes (joins, the rolling restart passes, removals) need not be called:
on a converged cluster the run costs the survey and the health check.
"""

from __future__ import annotations

from collections.abc import Mapping

from etcd_cluster.engine.managed import drifted
from etcd_cluster.engine.plan import Plan, ca_files
from etcd_cluster.etcd.restarts import Decision


def change_reasons(plan: Plan, decisions: Mapping[str, Decision]) -> list[str]:
    """Why this run may change something (empty: it changes nothing).

    ``decisions``: by host, what the restart decision says of the etcd the survey saw.
    """
    reasons = [change.describe() for change in plan.membership.changes]
    reasons += [change.describe() for change in plan.membership.url_updates]
    if plan.upgrading:
        reasons.append(f"upgrade of {', '.join(plan.upgrading)}")
    reasons += plan.maintenance.reasons
    if plan.ca_key_strays:
        reasons.append(f"ca.key to remove from {', '.join(plan.ca_key_strays)}")
    for name, survey in plan.surveys.items():  # the members inside --limit
        if not plan.survey_holds(name):
            reasons.append(f"{name}: packages or an etcd release to install")
        out_of_place = drifted(plan.items[name].all(), plan.host_states[name])
        reasons += [f"{name}: {item.target} out of place" for item in out_of_place]
        pending = plan.members[name].pending()
        if pending:
            reasons.append(f"{name}: {len(pending)} certificate or key file(s) to write")
        if plan.members[name].content_changed(ca_files(plan)):
            reasons.append(f"{name}: ca.crt changes")
        if decisions[name].action:
            reasons.append(
                f"{name}: {decisions[name].action}: {'; '.join(decisions[name].reasons)}"
            )
        if plan.observations[name].needs_daemon_reload:
            reasons.append(f"{name}: systemd holds an older etcd unit")
        if plan.cluster.settings.runtime == "static-pod" and not survey.manifest:
            reasons.append(f"{name}: no static pod manifest yet")
    return reasons
