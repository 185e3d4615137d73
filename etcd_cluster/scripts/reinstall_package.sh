# reinstall-package: install the same version of a Debian package again (dpkg writes every
# file from the package, which apt verified), without letting its maintainer scripts
# start, stop or restart any service: the deploy restarts etcd itself, one member at a
# time behind the quorum gate. A policy-rc.d that forbids every action (exit 101) is in
# place for the install only; one that was there before is put back. apt says nothing
# when it cannot download the package (no package lists): the package lists are updated
# then, and the install counts only once dpkg --verify finds no changed file.
#
# Arguments: package, and where policy-rc.d lives (tests only; default /usr/sbin).
set -eu
package=$1
policy=${2:-/usr/sbin/policy-rc.d}
version=$(dpkg-query -W -f '${Version}' "$package")
saved=
if [ -e "$policy" ]; then
    saved=$(mktemp)
    cp -p "$policy" "$saved"
fi
restore() {
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"
export DEBIAN_FRONTEND=noninteractive
install() {
    apt-get install -y -q --reinstall --no-install-recommends "$package=$version" >/dev/null
}
# Whether every file of the package but its conffiles is as dpkg installed it.
intact() {
    ! dpkg --verify "$package" 2>/dev/null | awk 'substr($1, 3, 1) == "5" && $2 != "c"' |
        grep -q .
}
install 2>/dev/null || true
if ! intact; then
    apt-get update -q >/dev/null  # no package lists, or outdated ones
    install
fi
if ! intact; then
    echo "$package $version was installed again, but dpkg --verify still finds changed" \
        "files: $(dpkg --verify "$package" 2>&1 | tr '\n' ' ')" >&2
    exit 1
fi
echo "reinstalled $package $version"
