#!/bin/sh
# staging_dir/host/bin/apk as the SDK lays it out: the real binary with its own loader and libraries.
here=$(dirname "$(readlink -f "$0")")
exec "$here/../lib/ld-linux-x86-64.so.2" --library-path "$here/../lib" "$here/.apk.bin" "$@"
