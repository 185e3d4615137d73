# check-release: the installed etcd release as it is now, for the survey (release_check.py).
#
# Arguments: release directory (/opt/etcd/v<version>), the record install_release wrote.
# stdout, nothing when the directory is missing (not installed), else:
#   dir:<mode> <user> <group>       the release directory
#   record:<line>                   each line of the record ("archive <sha256>", then
#                                   "<sha256>  <binary>" as sha256sum prints it)
#   file:<mode> <user> <group> <binary>   etcd, etcdctl, etcdutl when present
#   sum:<sha256> <binary>           their sha256 (all hashed at once; through remember.sh,
#                                   $ETCD_REMEMBER, kept in $ETCD_MEMO_DIR when the survey
#                                   gives one)
set -u
export LC_ALL=C
dir=$1 record=$2
[ -d "$dir" ] || exit 0
echo "dir:$(stat -c '%a %U %G' "$dir")"
[ -f "$record" ] && sed 's/^/record:/' "$record"
for binary in etcd etcdctl etcdutl; do
    [ -f "$dir/$binary" ] || continue
    echo "file:$(stat -c '%a %U %G' "$dir/$binary") $binary"
    {
        sum=$(sh -c "$ETCD_REMEMBER" remember "sha256:$dir/$binary" \
            'sha256sum <"$1"' "$dir/$binary")
        echo "sum:${sum%% *} $binary"
    } &
done
wait
exit 0
