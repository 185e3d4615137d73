# snapshot-save: save a verified snapshot of this member's etcd (it holds every Secret).
#
# Arguments: etcdctl, client endpoint, CA, client certificate, client key, backup
# directory, file name. Written to a temp file in the backup directory (mode 600,
# directory 700), verified with `snapshot status` (etcdutl beside etcdctl when there,
# else etcdctl), then renamed: a failed or unverifiable snapshot leaves no file.
set -eu
etcdctl=$1 endpoint=$2 cacert=$3 cert=$4 key=$5 dir=$6 name=$7
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
temp="$dir/.$name.partial"
trap 'rm -f "$temp"' EXIT
ETCDCTL_API=3 "$etcdctl" --endpoints="$endpoint" --cacert="$cacert" --cert="$cert" \
    --key="$key" snapshot save "$temp" >/dev/null
etcdutl="$(dirname "$etcdctl")/etcdutl"
if [ -x "$etcdutl" ]; then
    status=$("$etcdutl" snapshot status "$temp" -w simple)
else
    status=$(ETCDCTL_API=3 "$etcdctl" snapshot status "$temp" -w simple)
fi
chmod 600 "$temp"
mv "$temp" "$dir/$name"
echo "saved $dir/$name ($status)"
