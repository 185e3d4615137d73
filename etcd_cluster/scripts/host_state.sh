# host-state: the state of the files, directories and systemd units the deploy manages,
# for host_state.parse_host_state, so a converged host needs no per-operation facts.
# A handful of processes whatever the number of paths: one stat, one sha256sum, one
# systemctl show, one systemctl show-environment (and a base64 per drop-in file).
#
# Arguments: "path:<path>", "stat:<path>" (no checksum: private keys are not read),
# "unit:<unit>", "dropins:<dir>" (a unit's drop-in directory) or "manager-env".
# stdout:
#   stat:<file type>|<mode>|<user>|<group>|<path>   per existing path (stat's %F, no links
#                                                  followed)
#   @@sha256@@, then "<hex>  <path>"               per regular file of a "path:" argument
#                                                  (sha256sum's lines)
#   @@units@@, then "<property>=<value>"           systemctl show's Id, SubState and
#                                                  UnitFileState of each unit, in blocks
#                                                  (its lines: an empty one ends a block)
#   dropin:<base64 content> <path>                 per *.conf file of a "dropins:" directory
#                                                  (a directory named twice is read once)
#   env:<name>                                     per variable of systemd's manager
#                                                  environment (names only: a value may
#                                                  be a secret, and stays on the host)
# Each tool's argument list is built in a subshell that then becomes the tool ("set --"
# keeps any path one argument): each process is a good part of a survey's cost.
set -u
export LC_ALL=C

for item; do
    case "$item" in
    path:* | stat:* | unit:* | dropins:* | manager-env) ;;
    *)
        echo "host-state: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done

(
    for item; do
        shift
        case "$item" in path:* | stat:*) set -- "$@" "${item#*:}" ;; esac
    done
    [ $# -eq 0 ] || exec stat -c 'stat:%F|%a|%U|%G|%n' -- "$@" 2>/dev/null
)

echo '@@sha256@@'
(
    for item; do
        shift
        case "$item" in
        path:*) [ -f "${item#path:}" ] && [ ! -L "${item#path:}" ] && set -- "$@" "${item#path:}" ;;
        esac
    done
    [ $# -eq 0 ] || exec sha256sum -- "$@" 2>/dev/null
)

echo '@@units@@'
(
    for item; do
        shift
        case "$item" in unit:*) set -- "$@" "${item#unit:}" ;; esac
    done
    [ $# -eq 0 ] || exec systemctl show -p Id -p SubState -p UnitFileState -- "$@" 2>/dev/null
)

nl='
'
seen=$nl
for item; do
    case "$item" in
    dropins:*)
        case "$seen" in *"$nl${item#dropins:}$nl"*) continue ;; esac
        seen=$seen${item#dropins:}$nl
        for f in "${item#dropins:}"/*.conf; do
            [ -f "$f" ] && printf 'dropin:%s %s\n' "$(base64 -w0 <"$f")" "$f"
        done
        ;;
    manager-env)
        environment=$(systemctl show-environment 2>/dev/null)
        IFS=$nl
        set -f
        for line in $environment; do
            printf 'env:%s\n' "${line%%=*}" # the name: never the value
        done
        unset IFS
        set +f
        ;;
    esac
done
exit 0
