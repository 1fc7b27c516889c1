#!/bin/sh
# build-rpm.sh VERSION OUTDIR — `make rpm`: stage the working tree with its Go modules
# vendored into recd-VERSION.tar.gz (so that rpmbuild needs no network), build the binary
# rpm with packaging/rpm/recd.spec under OUTDIR/rpmbuild, refuse a package holding a SUID
# or SGID file, and copy the rpm to OUTDIR.
#
# On Debian/Ubuntu the BuildRequires (EL package names) cannot be checked, so rpmbuild
# runs with --nodeps there; the build itself uses the same tools (make deps installs them).
set -eu
version=$1
out=$(mkdir -p "$2" && cd "$2" && pwd)
go=$(command -v "${GO:-go}")
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$out/rpmbuild
rm -rf "$work"
mkdir -p "$work/SOURCES" "$work/SPECS" "$work/stage/recd-$version"
src=$work/stage/recd-$version

# The working tree as it is, without build output, VCS data or SELinux build leftovers.
(cd "$top" && tar --exclude=./build --exclude=./.git --exclude=./selinux/tmp --exclude='./selinux/*.pp' -cf - .) |
	(cd "$src" && tar -xf -)
(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" "$go" mod vendor)
tar -C "$work/stage" -czf "$work/SOURCES/recd-$version.tar.gz" "recd-$version"
cp "$top/packaging/rpm/recd.spec" "$work/SPECS/recd.spec"

nodeps=
[ -f /etc/debian_version ] && nodeps=--nodeps
rpmbuild -bb $nodeps --define "_topdir $work" --define "recd_version $version" --define "go $go" \
	"$work/SPECS/recd.spec"

rpms=$(find "$work/RPMS" -name "recd-$version-*.rpm")
[ -n "$rpms" ] || { echo "build-rpm: rpmbuild made no rpm" >&2; exit 1; }
for r in $rpms; do
	# Modes are the first column of `rpm -qlv`; s/S in it is SUID or SGID.
	bad=$(rpm -qplv --nosignature "$r" 2>/dev/null | awk '$1 ~ /[sS]/')
	if [ -n "$bad" ]; then
		echo "build-rpm: $r holds SUID/SGID files:" >&2
		echo "$bad" >&2
		exit 1
	fi
	cp "$r" "$out/"
	echo "build-rpm: $out/$(basename "$r")"
done
