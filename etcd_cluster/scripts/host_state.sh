# host-state: the state of the files, directories and systemd units the deploy manages,
# for host_state.parse_host_state, so a converged host needs no per-operation facts.
# A handful of processes whatever the number of paths: one stat, one sha256sum, one
# systemctl.
#
# Arguments: "path:<path>", "stat:<path>" (no checksum: private keys are not read),
# "unit:<unit>", "dropins:<dir>" (a unit's drop-in directory) or "manager-env".
# stdout:
#   stat:<file type>|<mode>|<user>|<group>|<path>   per existing path (stat's %F, no links
#                                                  followed)
#   sha256:<hex>  <path>                           per regular file of a "path:" argument
#   unit:<property>=<value>                        systemctl show's Id, SubState and
#                                                  UnitFileState of each unit, in blocks
#   dropin:<base64 content> <path>                 per *.conf file of a "dropins:" directory
#   env:<name>                                     per variable of systemd's manager
#                                                  environment (names only)
set -u
export LC_ALL=C

for item in "$@"; do
    case "$item" in
    path:* | stat:*) printf '%s\0' "${item#*:}" ;;
    esac
done | xargs -0 -r stat -c 'stat:%F|%a|%U|%G|%n' -- 2>/dev/null

for item in "$@"; do
    case "$item" in
    path:*) [ -f "${item#path:}" ] && [ ! -L "${item#path:}" ] && printf '%s\0' "${item#path:}" ;;
    esac
done | xargs -0 -r sha256sum -- 2>/dev/null | sed 's/^/sha256:/'

for item in "$@"; do
    case "$item" in
    unit:*) printf '%s\0' "${item#unit:}" ;;
    path:* | stat:* | dropins:* | manager-env) ;;
    *)
        echo "host-state: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done | xargs -0 -r systemctl show -p Id -p SubState -p UnitFileState -- 2>/dev/null |
    sed 's/^/unit:/'

for item in "$@"; do
    case "$item" in
    dropins:*)
        for f in "${item#dropins:}"/*.conf; do
            [ -f "$f" ] && printf 'dropin:%s %s\n' "$(base64 -w0 <"$f")" "$f"
        done
        ;;
    manager-env) systemctl show-environment 2>/dev/null | sed 's/=.*//; s/^/env:/' ;;
    esac
done
exit 0
