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
#   systemctl VERB UNIT         VERB: start, restart, enable, stop or disable; "enable"
#                               and "disable" without systemd's reload (one daemon-reload
#                               follows them all); "enable" of a native unit only
#                               (SYSTEMCTL_SKIP_SYSV=1): a SysV script of the same name
#                               (Debian's etcd-server ships /etc/init.d/etcd) is ignored
#                               under systemd, and syncing its rc.d links runs
#                               update-rc.d, the slowest part of a first start
# The first failure stops it with a non-zero exit.
set -eu
while [ $# -gt 0 ]; do
    case "$1" in
    dir)
        [ $# -ge 5 ] || { echo "apply-state: dir needs MODE USER GROUP PATH" >&2; exit 2; }
        mkdir -p -- "$5"
        chmod "$2" -- "$5"
        chown "$3:$4" -- "$5"
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
