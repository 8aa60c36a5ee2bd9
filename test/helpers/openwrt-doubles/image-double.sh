#!/bin/sh
# TEST DOUBLE of the ImageBuilder's "make image" (fwbuild's tests; not OpenWrt code).
set -e
profile=$1 packages=$2 files=$3 bin=$4 extra=$5
echo "feeds:"; grep '^src/gz' repositories.conf
limit=$(sed -n "s/^$profile //p" profiles.txt)
[ -n "$limit" ] || { echo "Profile $profile not found"; exit 1; }
root=$(mktemp -d); manifest=$(mktemp)
want=""
for p in $(cat default-packages.txt) $packages; do
  case $p in -*) want=$(echo " $want " | sed "s/ ${p#-} / /g");; *) want="$want $p";; esac
done
errors=""
for p in $want; do
  ipk=$(ls packages/${p}_*.ipk 2>/dev/null | head -n 1)
  if [ -n "$ipk" ]; then
    ctl=$(tar -xzOf "$ipk" ./control.tar.gz | tar -xzO ./control)
    missing=""
    for d in $(echo "$ctl" | sed -n 's/^Depends: //p' | tr -d ','); do
      grep -qx "$d" feed.txt || ls packages/${d}_*.ipk >/dev/null 2>&1 || missing="$missing $d"
    done
    if [ -n "$missing" ]; then
      errors="$errors
 * satisfy_dependencies_for: Cannot satisfy the following dependencies for $p:$(for m in $missing; do printf '
 * 	%s' "$m"; done)
 * opkg_install_cmd: Cannot install package $p."
      continue
    fi
    tar -xzOf "$ipk" ./data.tar.gz | tar -xz -C "$root"
    echo "$p - $(echo "$ctl" | sed -n 's/^Version: //p')" >> "$manifest"
  elif grep -qx "$p" feed.txt; then
    echo "$p - 1.0-r1" >> "$manifest"
  else
    errors="$errors
 * opkg_install_cmd: Cannot install package $p."
  fi
done
[ -z "$errors" ] || { printf 'Collected errors:%s
' "$errors" >&2; exit 1; }
[ -z "$files" ] || cp -R "$files/." "$root/"
mkdir -p "$bin"
name=openwrt-24.10.8-${extra:+$extra-}ath79-generic-$profile
img=$bin/$name-squashfs-sysupgrade.bin
tar --sort=name --mtime="@${SOURCE_DATE_EPOCH:-0}" --owner=0 --group=0 --numeric-owner -C "$root" -cf "$img" .
cp "$img" "$bin/$name-squashfs-factory.bin"
sort "$manifest" > "$bin/$name.manifest"
size=$(stat -c %s "$img")
if [ "$size" -gt "$limit" ]; then
  # check-size: a warning, the image removed, and make still exits 0
  echo "WARNING: Image file $img is too big:  $size > $limit" >&2
  rm -f "$img" "$bin/$name-squashfs-factory.bin"
fi
