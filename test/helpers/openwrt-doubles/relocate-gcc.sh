#!/bin/sh
# TEST DOUBLE helper (fwbuild's tests): run in fwbuild's toolchain image, copies Debian's
# mips-linux-gnu cross gcc (compiler, binutils, libc) into $1 with the layout gcc finds by itself
# when moved (bin/, lib/gcc-cross/, mips-linux-gnu/{bin,include,lib}), and puts the OpenWrt SDK's
# compiler names on it: a real cross compiler standing in for the SDK's musl one.
set -e
P=$1; T=mips-linux-gnu; W=mips-openwrt-linux-musl
mkdir -p $P/bin $P/lib/gcc-cross $P/$T/bin
cp -L /usr/bin/$T-gcc-12 $P/bin/$T-gcc
for b in as ld.bfd ar nm objcopy strip readelf ranlib; do cp -L /usr/bin/$T-$b $P/$T/bin/$b; done
ln -s ld.bfd $P/$T/bin/ld
cp -a /usr/lib/gcc-cross/$T $P/lib/gcc-cross/
rm -f $P/lib/gcc-cross/$T/12/lto1 $P/lib/gcc-cross/$T/12/lto-wrapper
cp -a /usr/$T/include /usr/$T/lib $P/$T/
# the cross binutils' own libraries, which the SDK image (Debian host tools only) has not
for l in libopcodes-2.40-mips.so libbfd-2.40-mips.so libctf-mips.so.0 libjansson.so.4; do cp -L /lib/x86_64-linux-gnu/$l $P/lib/; done
for tool in gcc strip ar nm objcopy readelf ranlib; do
  if [ $tool = gcc ]; then real='"$here/bin/'$T'-gcc" -B"$here/'$T'/bin/"'; else real='"$here/'$T'/bin/'$tool'"'; fi
  printf '#!/bin/sh
# TEST DOUBLE: Debian cross gcc under the OpenWrt SDK name
here=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/lib" exec %s "$@"
' "$real" > $P/bin/$W-$tool
  chmod 755 $P/bin/$W-$tool
done
