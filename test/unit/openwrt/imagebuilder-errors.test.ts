import test from 'ava';
import { explainImageBuilderLog } from '../../../builder/openwrt/imagebuilder-errors.js';

// The messages below are in the formats of OpenWrt's opkg, apk and check-size, as `make image`
// prints them; the package names are ours.

test('opkg: a package that does not exist, and one whose dependency cannot be met', (t) => {
  const log = [
    'Installing packages...',
    'Collected errors:',
    ' * opkg_install_cmd: Cannot install package kmod-nonexistent.',
    ' * satisfy_dependencies_for: Cannot satisfy the following dependencies for fwrunner:',
    ' * \tkmod-sched-bpf',
    ' * opkg_install_cmd: Cannot install package fwrunner.',
    'make[2]: *** [Makefile:186: package_install] Error 255',
  ].join('\n');
  t.deepEqual(
    explainImageBuilderLog(log).map((p) => p.message),
    [
      "package kmod-nonexistent is not in this release's package feeds for the target",
      "package fwrunner needs kmod-sched-bpf, which this release's feeds cannot provide",
    ],
  );
});

test('opkg: two packages that install the same file', (t) => {
  const log = [
    ' * check_data_file_clashes: Package libustream-wolfssl20201210 wants to install file /lib/libustream-ssl.so',
    '\tBut that file is already provided by package  * libustream-mbedtls20201210',
  ].join('\n');
  const [p] = explainImageBuilderLog(log);
  t.like(p, { kind: 'file-clash', file: '/lib/libustream-ssl.so', other: 'libustream-mbedtls20201210' });
});

test('apk: no such package, asked for directly or needed by another package', (t) => {
  const log = [
    'ERROR: unable to select packages:',
    '  kmod-nonexistent (no such package):',
    '    required by: world[kmod-nonexistent]',
    '  kmod-sched-bpf (no such package):',
    '    required by: fwrunner-0.1.0-r1[kmod-sched-bpf]',
  ].join('\n');
  t.deepEqual(
    explainImageBuilderLog(log).map((p) => [p.kind, p.message]),
    [
      ['no-such-package', "package kmod-nonexistent is not in this release's package feeds for the target"],
      ['unsatisfied-dependency', "package fwrunner needs kmod-sched-bpf, which this release's feeds cannot provide"],
    ],
  );
});

// The apk logs below are what apk-tools 3.0.6 (the 25.12 SDK's) printed for packages made to collide.
test('apk: two packages that install the same file, two that provide the same name, one that refuses another', (t) => {
  const log = [
    '(1/2) Installing alpha (1.0-r1)',
    '(2/2) Installing beta (1.0-r1)',
    'ERROR: beta-1.0-r1: trying to overwrite usr/bin/tool owned by alpha-1.0-r1.',
    '1 error; 11 B in 2 packages',
    'ERROR: unable to select packages:',
    '  alpha-1.0-r1:',
    '    conflicts: beta-1.0-r1[x=1]',
    '    satisfies: world[alpha]',
    '  beta-1.0-r1:',
    '    conflicts: alpha-1.0-r1[x=1]',
    '    satisfies: world[beta]',
    'ERROR: unable to select packages:',
    '  alpha-1.0-r1:',
    '    breaks: gamma-1.0-r1[!alpha]',
    '    satisfies: world[alpha]',
  ].join('\n');
  t.deepEqual(
    explainImageBuilderLog(log).map((p) => [p.kind, p.message]),
    [
      ['file-clash', 'packages beta and alpha both install /usr/bin/tool: choose one'],
      ['conflict', 'packages alpha and beta both provide x=1 and cannot be installed together: keep one'],
      ['conflict', 'package gamma cannot be installed with alpha (it declares !alpha): keep one'],
    ],
  );
});

test('apk mkndx: a package it cannot index is named with apk\'s reason', (t) => {
  const log = ['ERROR: /opt/openwrt/packages/fwbuild-toolkit-0.1.0-r1.apk: file format is invalid or inconsistent', 'ERROR: 1 errors, not creating index'].join('\n');
  t.deepEqual(explainImageBuilderLog(log).map((p) => p.message), [
    "apk mkndx cannot index fwbuild-toolkit-0.1.0-r1.apk (file format is invalid or inconsistent), so the ImageBuilder's package index leaves it out",
  ]);
});

test('check-size: an image too big for the flash, by how much', (t) => {
  const log =
    '    WARNING: Image file /builder/build_dir/target-mips_24kc_musl/linux-ath79_generic/tmp/' +
    'openwrt-24.10.8-fwbuild-ath79-generic-tplink_archer-c7-v2-squashfs-sysupgrade.bin is too big:  16187904 > 15990784\n';
  const [p] = explainImageBuilderLog(log);
  t.like(p, { kind: 'too-big', size: 16187904, limit: 15990784 });
  t.is(
    p!.message,
    "openwrt-24.10.8-fwbuild-ath79-generic-tplink_archer-c7-v2-squashfs-sysupgrade.bin is 197,120 bytes (193 KiB) too big for the device's flash (16,187,904 bytes (15809 KiB) > 15,990,784 bytes (15616 KiB)): leave out packages or files",
  );
  t.deepEqual(explainImageBuilderLog('Building images...\nCalculating checksums...\n'), [], 'a clean log has nothing to explain');
});
