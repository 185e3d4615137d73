# snapshot_tiers LAST HOURLY DAILY WEEKLY [SAVED]: which snapshots retention removes.
# stdin: one "EPOCH NAME" line per snapshot (EPOCH: its time on disk, whole seconds;
# NAME without newlines). stdout: the NAMEs to remove, one a line.
# Kept: the newest LAST whatever their times; the newest snapshot of each of the newest
# HOURLY hours, DAILY days and WEEKLY weeks (UTC; weeks from Monday) that have one; and
# SAVED, the one just made, whatever its time. The one definition of the tiers: the
# backup script runs it on each member for its directory and for its remote.
set -eu
sort -k1,1nr -k2,2r | awk -v last="$1" -v hourly="$2" -v daily="$3" -v weekly="$4" \
    -v saved="${5-}" '
function tier(kind, period, count) {
    if (seen[kind] < count && (seen[kind] == 0 || period != at[kind])) {
        seen[kind]++
        at[kind] = period
        return 1
    }
    return 0
}
{
    t = $1 + 0
    name = substr($0, index($0, " ") + 1)
    day = int(t / 86400)
    keep = (++rank <= last) || name == saved
    # each tier looks at every snapshot: one kept by another tier still counts for it
    keep = tier("h", int(t / 3600), hourly) + 0 || keep
    keep = tier("d", day, daily) + 0 || keep
    keep = tier("w", int((day + 3) / 7), weekly) + 0 || keep
    if (!keep) print name
}'
