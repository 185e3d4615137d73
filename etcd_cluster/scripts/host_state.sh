# host-state: the state of the files, directories and systemd units the deploy manages,
# for host_state.parse_host_state, so a converged host needs no per-operation facts.
#
# Arguments: "path:<path>", "stat:<path>" (no checksum: private keys are not read) or
# "unit:<unit>".
# stdout, one line per argument that exists:
#   path:<kind> <mode> <user> <group> <sha256 or -> <path>   kind: f file, d directory, o other
#   unit:<unit> <SubState> <UnitFileState>                   (empty fields print as -)
set -u
export LC_ALL=C
for item in "$@"; do
    kind=${item%%:*}
    name=${item#*:}
    case "$kind" in
    path | stat)
        if [ -L "$name" ]; then
            type=o
        elif [ -f "$name" ]; then
            type=f
        elif [ -d "$name" ]; then
            type=d
        elif [ -e "$name" ]; then
            type=o
        else
            continue
        fi
        digest=-
        if [ "$type" = f ] && [ "$kind" = path ]; then
            digest=$(sha256sum <"$name" 2>/dev/null) && digest=${digest%% *} || digest=-
        fi
        echo "path:$type $(stat -c '%a %U %G' "$name") $digest $name"
        ;;
    unit)
        sub=$(systemctl show -p SubState --value "$name" 2>/dev/null)
        file=$(systemctl show -p UnitFileState --value "$name" 2>/dev/null)
        echo "unit:$name ${sub:--} ${file:--}"
        ;;
    *)
        echo "host-state: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done
