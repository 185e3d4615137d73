# install-release: unpack a verified etcd release archive side by side with other versions.
#
# Arguments: archive path, its expected sha256, version, arch, install root, record file.
# The archive is checked against the sha256 before anything is unpacked; the binaries
# land in <root>/v<version>/ (mode 755, owned by root) by one rename, so a version is
# either fully there or not. Then the record gets the archive's sha256 ("archive <sha256>")
# and each binary's ("<sha256>  <binary>"): the survey checks the installed binaries
# against it (check_release.sh), and a restart goes only into a binary it lists.
set -eu
archive=$1 sum=$2 version=$3 arch=$4 root=$5 record=${6:-}
dest="$root/v$version"
if ! echo "$sum  $archive" | sha256sum -c --status -; then
    echo "$archive does not match etcd_archive_sha256 for etcd $version ($sum): not installed" >&2
    exit 1
fi
mkdir -p "$root"
unpack=$(mktemp -d "$root/.unpack-XXXXXX")
trap 'rm -rf "$unpack"' EXIT
tar -xzf "$archive" -C "$unpack"
src="$unpack/etcd-v$version-linux-$arch"
for binary in etcd etcdctl; do
    if [ ! -x "$src/$binary" ]; then
        echo "$archive has no etcd-v$version-linux-$arch/$binary (not etcd's release layout)" >&2
        exit 1
    fi
done
if ! "$src/etcd" --version | grep -q "etcd Version: $version\$"; then
    echo "$archive: its etcd does not say it is version $version" >&2
    exit 1
fi
chown -R root:root "$src" 2>/dev/null || true  # tar keeps the archive's owners
chmod 755 "$src"
if [ -n "$record" ]; then
    mkdir -p "$(dirname "$record")"
    (
        echo "archive $sum"
        cd "$src"
        for binary in etcd etcdctl etcdutl; do
            if [ -f "$binary" ]; then sha256sum "$binary"; fi
        done
    ) >"$record.tmp"
fi
rm -rf "$dest"
mv "$src" "$dest"
[ -z "$record" ] || mv -f "$record.tmp" "$record"
echo "installed etcd $version in $dest"
