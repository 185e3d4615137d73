# install-release: unpack a verified etcd release archive side by side with other versions.
#
# Arguments: archive path, its expected sha256, version, arch, install root.
# The archive is checked against the sha256 before anything is unpacked; the binaries
# land in <root>/v<version>/ by one rename, so a version is either fully there or not.
set -eu
archive=$1 sum=$2 version=$3 arch=$4 root=$5
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
chmod 755 "$src"
rm -rf "$dest"
mv "$src" "$dest"
echo "installed etcd $version in $dest"
