# apply-state: directories, absent paths and systemd units as the deploy wants them, in one
# command, for converge.install (its files go through install_files.sh just before).
#
# Arguments, one directive after another, applied in order:
#   dir MODE USER GROUP PATH    make the directory as needed, then set its mode and owner
#   absent PATH                 remove the file (ca.key on a member that is not the first)
#   move-aside PATH             rename a drop-in to PATH.moved-aside-<UTC time>: kept, but
#                               no longer a *.conf file systemd reads
#   unset-env NAME              systemctl unset-environment NAME (systemd's manager env)
#   daemon-reload               systemctl daemon-reload
#   daemon-reload-for UNIT=PATH,...
#                               systemctl daemon-reload unless systemd holds each UNIT
#                               loaded from exactly PATH and no older than it (LoadState,
#                               FragmentPath, NeedDaemonReload, one systemctl show): a unit
#                               first loaded after its file was written (a fresh host, where
#                               nothing holds etcd's units until they start; a package's
#                               unit of the same name in /lib is dropped once unreferenced)
#                               reads the file as it is. A reload costs 0.2 s in a
#                               container, on a first start's path; an enable's wants link
#                               needs none to count at the next boot
#   await-peers SECONDS CA CERT KEY URLS
#                               wait until each peer URL (comma-separated) answers on
#                               etcd's peer port (GET /version over HTTP/1.1 with the
#                               peer certificate), about SECONDS at most, then go on
#                               anyway: a new cluster's members start in turn
#                               (etcd_cluster/etcd/first_start.py)
#   systemctl VERB UNIT         VERB: start, restart, enable, stop or disable; "enable"
#                               and "disable" without systemd's reload (one daemon-reload
#                               follows them all); "enable" of a native unit only
#                               (SYSTEMCTL_SKIP_SYSV=1): a SysV script of the same name
#                               (Debian's etcd-server ships /etc/init.d/etcd) is ignored
#                               under systemd, and syncing its rc.d links runs
#                               update-rc.d, the slowest part of a first start
# The first failure stops it with a non-zero exit.
set -eu
loaded_as_written() { # $1: UNIT=PATH,...: whether systemd holds each unit as PATH is now
    set -f
    IFS=,
    # shellcheck disable=SC2086 # split on the commas
    set -- $1
    unset IFS
    set +f
    units=
    for pair; do units="$units ${pair%%=*}"; done
    # shellcheck disable=SC2086 # unit names, a word each
    shown=$(systemctl show -p LoadState -p FragmentPath -p NeedDaemonReload -- $units) ||
        return 1
    load= fragment= need=
    while IFS= read -r line; do # a block of properties per unit, in order, a blank line after
        case $line in
        LoadState=*) load=${line#*=} ;;
        FragmentPath=*) fragment=${line#*=} ;;
        NeedDaemonReload=*) need=${line#*=} ;;
        '')
            [ -n "$load$fragment$need" ] || continue
            [ $# -gt 0 ] && [ "$load" = loaded ] && [ "$need" = no ] &&
                [ "$fragment" = "${1#*=}" ] || return 1
            shift
            load= fragment= need=
            ;;
        esac
    done <<EOF
$shown

EOF
    [ $# -eq 0 ]
}
while [ $# -gt 0 ]; do
    case "$1" in
    dir)
        [ $# -ge 5 ] || { echo "apply-state: dir needs MODE USER GROUP PATH" >&2; exit 2; }
        # one process for all three (missing parents 0755, as kubeadm makes them)
        install -d -m "$2" -o "$3" -g "$4" -- "$5"
        shift 5
        ;;
    absent)
        [ $# -ge 2 ] || { echo "apply-state: absent needs PATH" >&2; exit 2; }
        rm -f -- "$2"
        shift 2
        ;;
    move-aside)
        [ $# -ge 2 ] || { echo "apply-state: move-aside needs PATH" >&2; exit 2; }
        mv -- "$2" "$2.moved-aside-$(date -u +%Y%m%dT%H%M%SZ)"
        shift 2
        ;;
    unset-env)
        [ $# -ge 2 ] || { echo "apply-state: unset-env needs NAME" >&2; exit 2; }
        systemctl unset-environment -- "$2"
        shift 2
        ;;
    daemon-reload)
        systemctl daemon-reload
        shift
        ;;
    daemon-reload-for)
        [ $# -ge 2 ] || { echo "apply-state: daemon-reload-for needs UNIT=PATH,..." >&2; exit 2; }
        loaded_as_written "$2" || systemctl daemon-reload
        shift 2
        ;;
    await-peers)
        [ $# -ge 6 ] || { echo "apply-state: await-peers needs SECONDS CA CERT KEY URLS" >&2; exit 2; }
        ticks=$(($2 * 50))  # 0.02 s each; an answer that times out (0.5 s) costs 25
        set -f
        IFS=,
        for url in $6; do
            while [ "$ticks" -gt 0 ]; do
                code=0
                curl -gsf --http1.1 --max-time 0.5 --cacert "$3" --cert "$4" --key "$5" \
                    -o /dev/null -- "$url/version" 2>/dev/null || code=$?
                [ "$code" -eq 0 ] && break
                if [ "$code" -eq 28 ]; then
                    ticks=$((ticks - 25))
                else
                    ticks=$((ticks - 1))
                    sleep 0.02
                fi
            done
        done
        unset IFS
        set +f
        shift 6
        ;;
    systemctl)
        [ $# -ge 3 ] || { echo "apply-state: systemctl needs VERB UNIT" >&2; exit 2; }
        case "$2" in
        start | restart | enable | stop | disable) ;;
        *) echo "apply-state: unknown systemctl verb $2" >&2; exit 2 ;;
        esac
        if [ "$2" = enable ]; then
            SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload -- "$3"
        elif [ "$2" = disable ]; then
            systemctl disable --no-reload -- "$3"
        else
            systemctl "$2" -- "$3"
        fi
        shift 3
        ;;
    *)
        echo "apply-state: unknown directive $1" >&2
        exit 2
        ;;
    esac
done
