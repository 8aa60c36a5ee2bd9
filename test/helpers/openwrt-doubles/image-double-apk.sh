#!/bin/sh
# TEST DOUBLE of the apk ImageBuilder's "make package_index" and "make image" (fwbuild's tests;
# not OpenWrt code), around the real apk-tools 3.0.6 in staging_dir/host/bin/apk:
# - package_index: `apk mkndx --sign` over packages/*.apk with the local key, failures hidden
#   (`|| true`) as in OpenWrt's target/imagebuilder/files/Makefile;
# - image: `apk add --root --initdb --no-scripts` of the defaults, the profile and PACKAGES from
#   packages/ and from feed/, a local stand-in for the remote feeds in `repositories` (which the
#   double prints but never contacts); FILES; the stored post-install scripts run with
#   IPKG_INSTROOT as rootfs.mk does; then a plain tar under the sysupgrade and factory names.
set -e
apk=staging_dir/host/bin/apk
if [ "$1" = index ]; then
  (cd packages && ../$apk mkndx --allow-untrusted --sign-key ../keys/local-private-key.pem --output packages.adb *.apk) >/dev/null 2>&1 || true
  exit 0
fi
profile=$2 packages=$3 files=$4 bin=$5 extra=$6
echo "feeds (not contacted by this double):"; grep -v '^#' repositories
limit=$(sed -n "s/^$profile //p" profiles.txt)
[ -n "$limit" ] || { echo "Profile \"$profile\" does not exist!"; exit 1; }
# package_reload: index packages/ when packages.adb is missing or older than a package
[ -f packages/packages.adb ] && [ -z "$(find packages -name '*.apk' -cnewer packages/packages.adb)" ] || sh scripts/image-double-apk.sh index
want=""
for p in $(cat default-packages.txt) $packages; do
  case $p in -*) want=$(echo " $want " | sed "s/ ${p#-} / /g");; *) want="$want $p";; esac
done
root=$(mktemp -d) repos=$(mktemp)
printf '%s\n' "$PWD/packages/packages.adb" "$PWD/feed/packages.adb" > "$repos"
echo "Installing packages..."
# rules.mk runs apk under the ImageBuilder's fakeroot; this double has none, so --usermode
$apk --root "$root" --keys-dir "$PWD/keys" --repositories-file "$repos" --initdb --usermode --arch "$(cat arch.txt)" \
  --no-scripts --force-no-chroot --no-cache --no-logfile add $want
[ -z "$files" ] || cp -R "$files/." "$root/"
# rootfs.mk for apk: the stored scripts into lib/apk/exec, each post-install run against the tree
mkdir -p "$root/lib/apk/exec"
[ ! -f "$root/lib/apk/db/scripts.tar.gz" ] || tar -C "$root/lib/apk/exec" -xzf "$root/lib/apk/db/scripts.tar.gz"
for s in "$root"/lib/apk/exec/*.post-install; do [ -f "$s" ] && IPKG_INSTROOT="$root" sh "$s"; done
rm -rf "$root/lib/apk/exec"
mkdir -p "$bin"
name=openwrt-$(cat version.txt)-${extra:+$extra-}ath79-generic-$profile
img=$bin/$name-squashfs-sysupgrade.bin
$apk --root "$root" --force-no-chroot list --installed --manifest | sort > "$bin/$name.manifest"
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner -C "$root" -cf "$img" .
cp "$img" "$bin/$name-squashfs-factory.bin"
size=$(stat -c %s "$img")
if [ "$size" -gt "$limit" ]; then
  echo "WARNING: Image file $img is too big:  $size > $limit" >&2
  rm -f "$img" "$bin/$name-squashfs-factory.bin"
fi
