/**
 * Test doubles of OpenWrt's SDK and ImageBuilder tarballs (OpenWrt's servers cannot be reached
 * here). They have the real top folder names and layout and none of OpenWrt's contents:
 * - the ImageBuilder's Makefile answers `make info` and emulates `make image` with a shell
 *   script (below): it checks the package selection against a small feed list and the local
 *   packages/, unpacks the .ipk files into a root tree with FILES, and writes a plain tar under
 *   the sysupgrade and factory names, with opkg's and check-size's real messages on failure;
 * - the SDK's toolchain is Debian's mips-linux-gnu cross gcc (glibc, not musl), relocated
 *   under the SDK's toolchain folder and compiler name: a real cross compiler, a stand-in for
 *   OpenWrt's.
 * Packed with Debian's tar, zstd and xz.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { releaseNames, RELEASE_24, type DoubleRelease } from './openwrt-mirror.js';

const sh = promisify(execFile);
/** Shell scripts of the doubles */
const DOUBLES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'openwrt-doubles');
export const TOP = releaseNames(RELEASE_24).ibTop;
/** Runs a shell script in a container of some image, with the layout's root folder mounted read-write at /x. */
export type RunIn = (script: string) => Promise<void>;

/** Packs `dir`'s `members` with GNU tar (names as given, so `../x` and `/x` stay) and compresses. */
export async function pack(dir: string, out: string, members: string[], extra: string[] = []): Promise<string> {
  const tarFile = `${out}.tar`;
  await sh('tar', ['-C', dir, '-cf', tarFile, '--owner=0', '--group=0', ...extra, ...members]);
  if (out.endsWith('.zst')) await sh('zstd', ['-q', '-f', '--rm', tarFile, '-o', out]);
  else await sh('xz', ['-f', '-T1', tarFile]).then(() => sh('mv', [`${tarFile}.xz`, out]));
  return out;
}

/** The double's devices and flash limits in bytes (its own numbers, not OpenWrt's IMAGE_SIZE). */
export const DOUBLE_PROFILES = { 'tplink_archer-c7-v2': 15_990_784, 'tplink_tl-wr841hp-v2': 400_000 } as const;
/** The double's feed: what `make image` can install besides the packages in packages/. */
export const DOUBLE_FEED = ['base-files', 'busybox', 'dropbear', 'kmod-sched-core', 'kmod-sched-bpf', 'tcpdump-mini'];


/**
 * The ImageBuilder double's tree under `root`. For an apk release (`apkTools` runs in the
 * apk-tools image), the real apk laid out in staging_dir/host as the SDK and ImageBuilder hold
 * it, `repositories` in feeds.mk's shape, a local signing key made here (the ImageBuilder makes
 * one on first use), and a stand-in feed of empty packages made by that apk; `make image` and
 * `make package_index` run image-double-apk.sh.
 */
export async function imageBuilderLayout(root: string, release: DoubleRelease = RELEASE_24, apkTools?: RunIn): Promise<void> {
  if (release.format === 'apk') return apkImageBuilderLayout(root, release, apkTools);
  const top = path.join(root, TOP);
  await mkdir(path.join(top, 'staging_dir', 'host', 'bin'), { recursive: true });
  await mkdir(path.join(top, 'scripts'), { recursive: true });
  await mkdir(path.join(top, 'packages'), { recursive: true });
  await writeFile(
    path.join(top, 'Makefile'),
    '# test double of the ImageBuilder Makefile\ninfo:\n\t@echo \'Current Target: "ath79/generic"\'\n' +
      'image:\n\t@sh scripts/image-double.sh "$(PROFILE)" "$(PACKAGES)" "$(FILES)" "$(BIN_DIR)" "$(EXTRA_IMAGE_NAME)"\n',
  );
  await copyFile(path.join(DOUBLES, 'image-double.sh'), path.join(top, 'scripts', 'image-double.sh'));
  await writeFile(path.join(top, 'profiles.txt'), Object.entries(DOUBLE_PROFILES).map(([p, l]) => `${p} ${l}\n`).join(''));
  await writeFile(path.join(top, 'feed.txt'), DOUBLE_FEED.map((p) => `${p}\n`).join(''));
  await writeFile(path.join(top, 'default-packages.txt'), 'base-files busybox dropbear\n');
  // the real file points at the download server; .invalid (RFC 2606) never resolves
  await writeFile(
    path.join(top, 'repositories.conf'),
    'src/gz openwrt_core https://openwrt-mirror.invalid/releases/24.10.8/targets/ath79/generic/packages\n' +
      'src/gz openwrt_base https://openwrt-mirror.invalid/releases/24.10.8/packages/mips_24kc/base\nsrc imagebuilder file:packages\n',
  );
  await writeFile(path.join(top, 'scripts', 'ipkg-build'), '#!/bin/sh\n');
  await symlink('../../../scripts/ipkg-build', path.join(top, 'staging_dir', 'host', 'bin', 'ipkg-build'));
  await symlink('/usr/bin/python3', path.join(top, 'staging_dir', 'host', 'bin', 'python3'));
}


export const SDK_TOP = releaseNames(RELEASE_24).sdkTop;

/** Copies the apk-tools image's staging_dir/host (apk, its loader and libraries) under `top` (relative to /x). */
const apkHostTools = (top: string): string => `mkdir -p /x/${top}/staging_dir/host && cp -a /opt/openwrt/staging_dir/host/. /x/${top}/staging_dir/host/`;

async function apkImageBuilderLayout(root: string, release: DoubleRelease, apkTools?: RunIn): Promise<void> {
  if (!apkTools) throw new Error('an apk ImageBuilder double needs the apk-tools image');
  const { ibTop } = releaseNames(release);
  const top = path.join(root, ibTop);
  for (const d of ['scripts', 'packages', 'keys', 'feed']) await mkdir(path.join(top, d), { recursive: true });
  await writeFile(
    path.join(top, 'Makefile'),
    '# test double of the ImageBuilder Makefile (apk)\ninfo:\n\t@echo \'Current Target: "ath79/generic"\'\n' +
      'package_index:\n\t@sh scripts/image-double-apk.sh index\n' +
      'image:\n\t@sh scripts/image-double-apk.sh image "$(PROFILE)" "$(PACKAGES)" "$(FILES)" "$(BIN_DIR)" "$(EXTRA_IMAGE_NAME)"\n',
  );
  await copyFile(path.join(DOUBLES, 'image-double-apk.sh'), path.join(top, 'scripts', 'image-double-apk.sh'));
  await writeFile(path.join(top, 'profiles.txt'), Object.entries(DOUBLE_PROFILES).map(([p, l]) => `${p} ${l}\n`).join(''));
  await writeFile(path.join(top, 'default-packages.txt'), 'base-files busybox dropbear\n');
  await writeFile(path.join(top, 'version.txt'), `${release.version}\n`);
  await writeFile(path.join(top, 'arch.txt'), 'mips_24kc\n');
  // feeds.mk's FeedSourcesAppendAPK lines; .invalid (RFC 2606) never resolves
  const base = `https://openwrt-mirror.invalid/releases/${release.version}`;
  await writeFile(
    path.join(top, 'repositories'),
    `${base}/targets/ath79/generic/packages/packages.adb\n${base}/packages/mips_24kc/base/packages.adb\n# ${base}/packages/mips_24kc/telephony/packages.adb\n`,
  );
  // the ImageBuilder's _check_keys: a P-256 key with "untrusted comment" lines
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(path.join(top, 'keys', 'local-private-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(path.join(top, 'keys', 'local-public-key.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  await copyFile(path.join(DOUBLES, 'functions.sh'), path.join(top, 'feed', 'functions.sh'));
  const apk = `/x/${ibTop}/staging_dir/host/bin/apk`;
  await apkTools(
    [
      'set -e',
      apkHostTools(ibTop),
      `cd /x/${ibTop}/feed`,
      ...DOUBLE_FEED.map((p) =>
        [
          `d=$(mktemp -d)`,
          p === 'base-files' ? 'mkdir -p $d/lib && mv functions.sh $d/lib/functions.sh' : ':',
          `${apk} mkpkg --info name:${p} --info version:1.0-r1 --info arch:mips_24kc --files $d --output ${p}-1.0-r1.apk`,
        ].join(' && '),
      ),
      `${apk} mkndx --allow-untrusted --sign-key ../keys/local-private-key.pem --output packages.adb *.apk`,
    ].join('\n'),
  );
}


/**
 * The SDK test double's tree under `root`: OpenWrt's top folder and layout, with the relocated
 * Debian cross gcc as its toolchain. `runInToolchain` runs a shell script in fwbuild's toolchain
 * image with `root` mounted read-write at /x.
 */
export async function sdkLayout(root: string, runInToolchain: RunIn, release: DoubleRelease = RELEASE_24, apkTools?: RunIn): Promise<void> {
  const { sdkTop: SDK_TOP, toolchain } = releaseNames(release);
  const top = path.join(root, SDK_TOP);
  for (const d of ['include', 'package', 'scripts', 'staging_dir/host/bin', 'staging_dir/target-mips_24kc_musl']) {
    await mkdir(path.join(top, d), { recursive: true });
  }
  await writeFile(path.join(top, 'Makefile'), '# test double of the SDK Makefile\ninfo:\n\t@echo \'OpenWrt SDK (test double) for ath79/generic\'\n');
  await writeFile(path.join(top, 'rules.mk'), '# test double\n');
  await writeFile(path.join(top, 'feeds.conf.default'), 'src-link local ../package\n');
  await runInToolchain(`set -- /x/${SDK_TOP}/staging_dir/${toolchain}\n${await readFile(path.join(DOUBLES, 'relocate-gcc.sh'), 'utf8')}`);
  // 25.12 and snapshots: the SDK packs with its own staging_dir/host/bin/apk
  if (release.format === 'apk') {
    if (!apkTools) throw new Error('an apk SDK double needs the apk-tools image');
    await apkTools(apkHostTools(SDK_TOP));
  }
}
