#!/bin/sh
# build-deb.sh VERSION OUTDIR — `make deb`: stage `make install DESTDIR=… PREFIX=/usr`
# (plus the SELinux module when built), add control, conffiles, md5sums and the
# maintainer scripts of packaging/deb, refuse SUID/SGID files, and build
# OUTDIR/recd_VERSION_ARCH.deb with dpkg-deb (files owned by root). No debhelper.
set -eu
version=$1
out=$(mkdir -p "$2" && cd "$2" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
arch=$(dpkg --print-architecture)
root=$out/deb/recd_${version}_$arch
rm -rf "$out/deb"
mkdir -p "$root"

make -C "$top" --no-print-directory install DESTDIR="$root" PREFIX=/usr
if [ -f "$top/selinux/recd.pp" ]; then
	install -D -m 0644 "$top/selinux/recd.pp" "$root/usr/share/selinux/default/recd.pp"
fi

if bad=$(find "$root" -perm /6000) && [ -n "$bad" ]; then
	echo "build-deb: SUID/SGID files in the package:" >&2
	echo "$bad" >&2
	exit 1
fi

install -d -m 0755 "$root/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "$top/packaging/deb/$s" "$root/DEBIAN/$s"
done
(cd "$root" && find etc -type f 2>/dev/null | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"
[ -s "$root/DEBIAN/conffiles" ] || rm "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$top/packaging/deb/control.in" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) \
	> "$root/DEBIAN/md5sums"

deb=$out/recd_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "build-deb: $deb"
