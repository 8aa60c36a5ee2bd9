# TEST DOUBLE of base-files' /lib/functions.sh (fwbuild's tests; not OpenWrt code): only what a
# package's post-install calls. default_postinst enables the init scripts the package's .list names.
add_group_and_user() { :; }
default_postinst() {
  for s in $(grep "^/etc/init.d/" "$root/lib/apk/packages/$pkgname.list"); do
    n=$(sed -n "s/^START=//p" "$root$s"); mkdir -p "$root/etc/rc.d"; ln -sf "../init.d/${s##*/}" "$root/etc/rc.d/S$n${s##*/}"
  done
}
default_prerm() { :; }
