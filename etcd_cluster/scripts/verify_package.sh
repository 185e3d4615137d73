# verify-package: the files of an installed Debian package that differ from dpkg's own
# checksums (the md5sums the package shipped), for the survey (release_check.py).
#
# Arguments: package.
# stdout, nothing when the package is not installed, else:
#   installed:<version>   the installed version
#   changed:<path>        a file whose content is not the package's (conffiles, which an
#                         operator may edit, are left out)
#   missing:<path>        a file of the package that is gone
set -u
export LC_ALL=C
package=$1
status=$(dpkg-query -W -f '${Status} ${Version}' "$package" 2>/dev/null) || exit 0
case "$status" in
"install ok installed "*) echo "installed:${status##* }" ;;
*) exit 0 ;;
esac
# dpkg hashes every file of the package (etcd's binary is tens of MB): remembered while none
# of them, nor the package's list of checksums, changed (remember.sh, $ETCD_REMEMBER; kept
# in $ETCD_MEMO_DIR when the survey gives one). The list is where dpkg keeps it, as
# dpkg-query --control-path names it: info/PACKAGE.md5sums, or info/PACKAGE:ARCH.md5sums for
# a package of several architectures (all of them, were there several).
export package
sums=
for list in "${DPKG_ADMINDIR:-/var/lib/dpkg}/info/$package.md5sums" \
    "${DPKG_ADMINDIR:-/var/lib/dpkg}/info/$package":*.md5sums; do
    [ -f "$list" ] && sums="$sums$list
"
done
# no list of the package's files (or dpkg working on another root): nothing to key a memo on
[ -n "$sums" ] && [ -z "${DPKG_ROOT:-}" ] || ETCD_MEMO_DIR=
IFS='
'
set -f
# shellcheck disable=SC2046,SC2086 # one word per line: the lists, then the package's files
sh -c "$ETCD_REMEMBER" remember "dpkg-verify:$package" '
    dpkg --verify "$package" 2>/dev/null | awk '"'"'
        $1 == "missing" { print "missing:" $NF; next }
        substr($1, 3, 1) == "5" && $2 != "c" { print "changed:" $NF }'"'"'' \
    $sums $([ -z "$sums" ] || sed 's|^[0-9a-f]*  *|/|' $sums 2>/dev/null)
exit 0
