#!/bin/sh
# Extracts an OpenWrt SDK or ImageBuilder tarball into DEST as an unprivileged user, then
# refuses anything that is not a file, folder or symlink. fwbuild's checkTarball has read every
# header already, but with another reader than GNU tar: a header the two read differently
# must still not become a device node (mknod fails without root) or a FIFO (found below).
#   extract.sh ARCHIVE DEST UID
set -eu
archive=$1 dest=$2 uid=$3
mkdir -p "$dest"
chown "$uid:$uid" "$dest"
setpriv --reuid="$uid" --regid="$uid" --clear-groups -- \
  tar --no-same-owner --no-same-permissions -C "$dest" --strip-components=1 -xf "$archive"
odd=$(find "$dest" ! -type f ! -type d ! -type l | head -n 5)
if [ -n "$odd" ]; then
  echo "extract.sh: $archive made entries that are not files, folders or symlinks:" $odd >&2
  exit 1
fi
