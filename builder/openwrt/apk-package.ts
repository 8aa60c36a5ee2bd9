import { BuildError } from '../errors.js';
import { TOOLKIT_PACKAGE, type PackageInstall } from './package.js';

/**
 * The toolkit as an apk package (OpenWrt 25.12 and snapshots), made the way OpenWrt's
 * include/package-pack.mk makes one: the payload tree with lib/apk/packages/<name>.list (every
 * file and link, `/`-rooted and sorted, which default_postinst reads to enable init scripts),
 * the post-install, post-upgrade and pre-deinstall scripts it generates, and
 * `staging_dir/host/bin/apk mkpkg` with its --info fields. The apk tool is the release's own
 * (the SDK ships it), run in the SDK container; fwbuild only writes the command.
 */

/** apk's version syntax: what OpenWrt uses is X.Y.Z-rN (apk refuses `0.4.0-1` and `+g...`). */
const CORE = /^(\d+)\.(\d+)\.(\d+)$/;

export function apkVersion(version: string, release: number = TOOLKIT_PACKAGE.release): string {
  if (!CORE.test(version)) {
    throw new BuildError(`version ${JSON.stringify(version)} cannot be an apk version: apk takes X.Y.Z-rN (fwbuild adds -r${release}), without pre-release or build suffixes`);
  }
  return `${version}-r${release}`;
}

/** The maintainer scripts package-pack.mk writes for every apk package, for this package's name. */
export function apkScripts(name: string): Record<'post-install' | 'post-upgrade' | 'pre-deinstall', string> {
  const postInstallBody = [
    '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0',
    '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0',
    '. ${IPKG_INSTROOT}/lib/functions.sh',
    'export root="${IPKG_INSTROOT}"',
    `export pkgname="${name}"`,
    'add_group_and_user',
    'default_postinst',
  ];
  return {
    'post-install': ['#!/bin/sh', ...postInstallBody, ''].join('\n'),
    'post-upgrade': ['#!/bin/sh', 'export PKG_UPGRADE=1', ...postInstallBody, ''].join('\n'),
    'pre-deinstall': [
      '#!/bin/sh',
      '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0',
      '. ${IPKG_INSTROOT}/lib/functions.sh',
      'export root="${IPKG_INSTROOT}"',
      `export pkgname="${name}"`,
      'default_prerm',
      '',
    ].join('\n'),
  };
}

export interface ApkPackInput {
  /** OpenWrt package architecture (mips_24kc) */
  arch: string;
  /** fwbuild's version, X.Y.Z */
  version: string;
  /** where the step outputs named in `install` are mounted (/in/<step>/<sub>) */
  inRoot: string;
  /** the payload: packageInstall() of the config's inference */
  install: readonly PackageInstall[];
  /** extra files for the payload: folder on the host side of the container -> folder in the package */
  extra: { from: string; to: string }[];
  /** the SDK's root: its staging_dir/host/bin/apk does the packing */
  sdkRoot: string;
  outDir: string;
  /** undefined: the container's SOURCE_DATE_EPOCH, which must be set */
  sourceDateEpoch?: number;
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell script that lays out the payload and runs the SDK's `apk mkpkg`; prints the file made. */
export function apkPackScript(p: ApkPackInput): string {
  const name = TOOLKIT_PACKAGE.name;
  const version = apkVersion(p.version);
  const file = `${p.outDir}/${name}-${version}.apk`;
  const scripts = apkScripts(name);
  const info: [string, string][] = [
    ['name', name],
    ['version', version],
    ['description', TOOLKIT_PACKAGE.description],
    ['arch', p.arch],
    ['license', TOOLKIT_PACKAGE.license],
    ['origin', TOOLKIT_PACKAGE.origin],
    ['url', TOOLKIT_PACKAGE.url],
    ['maintainer', TOOLKIT_PACKAGE.maintainer],
    ['depends', TOOLKIT_PACKAGE.depends.join(' ')],
  ];
  return [
    'set -eu',
    p.sourceDateEpoch === undefined ? ': "${SOURCE_DATE_EPOCH:?apk mkpkg needs SOURCE_DATE_EPOCH for reproducible packages}"' : `export SOURCE_DATE_EPOCH=${p.sourceDateEpoch}`,
    'umask 022',
    'root=$(mktemp -d) meta=$(mktemp -d)',
    // the payload: step outputs with fixed modes, then the extra folders (the init script)
    ...p.install.flatMap(({ from, to, mode }) => [
      `mkdir -p "$root/${to}"`,
      `set -- ${p.inRoot}/${from}/*; [ -e "$1" ] || { echo "package ${name}: step ${from.split('/')[0]} left nothing in ${from.split('/')[1]}/" >&2; exit 1; }`,
      `for f in "$@"; do cp "$f" "$root/${to}/"; chmod ${mode.toString(8)} "$root/${to}/\${f##*/}"; done`,
    ]),
    ...p.extra.flatMap(({ from, to }) => [`mkdir -p "$root/${to}"`, `cp -R ${sq(from)}/. "$root/${to}/"`]),
    // package-pack.mk: every file and link, /-rooted, sorted, listed before the list exists
    `mkdir -p "$root/lib/apk/packages"`,
    `(cd "$root" && find . \\( -type f -o -type l \\) | sed 's#^\\.##' | LC_ALL=C sort) > "$meta/list" && mv "$meta/list" "$root/lib/apk/packages/${name}.list"`,
    ...Object.entries(scripts).map(([k, body]) => `printf '%s' ${sq(body)} > "$meta/${k}"`),
    `mkdir -p ${sq(p.outDir)}`,
    [
      `${p.sdkRoot}/staging_dir/host/bin/apk mkpkg`,
      ...info.map(([k, v]) => `--info ${sq(`${k}:${v}`)}`),
      ...Object.keys(scripts).map((k) => `--script "${k}:$meta/${k}"`),
      '--files "$root"',
      `--output ${sq(file)}`,
    ].join(' \\\n  '),
    `rm -rf "$root" "$meta"`,
    `echo ${sq(file)}`,
  ].join('\n');
}
