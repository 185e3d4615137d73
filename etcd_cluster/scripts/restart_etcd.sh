# restart-etcd: restart the etcd unit, only into a binary the install verified.
#
# Arguments: unit, the binary the unit runs, the record install_release wrote for it
# ("" when the binary is not from a release archive: restart as it is).
# A binary whose sha256 is not the one the record lists for its name (replaced since
# the install) fails the restart, named on stderr: the survey reinstalls it first.
set -u
unit=$1 binary=$2 record=${3:-}
if [ -n "$record" ]; then
    sum=$(sha256sum <"$binary" | cut -d' ' -f1)
    if ! grep -qxF "$sum  ${binary##*/}" "$record" 2>/dev/null; then
        echo "$binary (sha256 $sum) is not the binary of the verified archive ($record):" \
            "not restarting etcd into it" >&2
        exit 1
    fi
fi
exec systemctl restart "$unit"
