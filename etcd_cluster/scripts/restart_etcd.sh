# restart-etcd: restart the etcd unit, only into a binary the install verified.
#
# Arguments: unit, the binary the unit runs, and how it is verified: the record
# install_release wrote for it, or "dpkg:<package>" for a packaged binary (dpkg's own
# checksums), or "" (not verified: restart as it is).
# A binary whose sha256 is not the one the record lists for its name, or that dpkg says
# differs from its package (replaced since the install), fails the restart, named on
# stderr: the survey has it installed again first.
set -u
unit=$1 binary=$2 record=${3:-}
case "$record" in
dpkg:*)
    if dpkg --verify "${record#dpkg:}" 2>/dev/null | grep -q " $binary\$"; then
        echo "$binary is not the one package ${record#dpkg:} installed (dpkg --verify):" \
            "not restarting etcd into it" >&2
        exit 1
    fi
    ;;
?*)
    sum=$(sha256sum <"$binary" | cut -d' ' -f1)
    if ! grep -qxF "$sum  ${binary##*/}" "$record" 2>/dev/null; then
        echo "$binary (sha256 $sum) is not the binary of the verified archive ($record):" \
            "not restarting etcd into it" >&2
        exit 1
    fi
    ;;
esac
exec systemctl restart "$unit"
