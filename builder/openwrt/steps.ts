import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DebianTarget, OpenWrtTarget } from '../catalog/target.js';
import { BuildError } from '../errors.js';
import { targetSlug } from '../util/paths.js';
import { runnerBuild, SRC, toolkitSteps, type CompileStep } from '../toolkit/steps.js';
import { CONFFILE_LAYER, conffileSteps } from '../toolkit/conffile.js';
import { explainImageBuilderLog } from './imagebuilder-errors.js';
import { apkPackScript } from './apk-package.js';
import { packageCodeHash, packageInstall, TOOLKIT_PACKAGE, writeIpk, type PackageFormat } from './package.js';
import { INFERENCE, type Inference } from '../config/inference.js';

export interface OpenWrtBuildSpec {
  profile: string;
  /** config openwrt.packages: added to (or, as -name, removed from) the device's defaults */
  packages: string[];
  /** the mirror the ImageBuilder fetches the release's packages from; none offline */
  mirror?: string;
  /** the release's package format: opkg's .ipk up to 24.10, apk from 25.12 and in snapshots */
  format: PackageFormat;
  /** the config's inference: which BPF object, and whether the QuickJS model (default quickjs) */
  inference?: Inference;
}

/**
 * What differs between the two ImageBuilder kinds, as data (target/imagebuilder/files/Makefile,
 * include/feeds.mk): the feed file and the shape of its remote lines, whose part before
 * /releases/ or /snapshots/ becomes the configured mirror, and what `make image` must find
 * before it runs. apk's package_index runs `apk mkndx ... || true`, so a package apk cannot
 * index is silently left out and only surfaces later as "no such package": fwbuild indexes
 * first, with the ImageBuilder's own target, and checks the toolkit is in packages.adb.
 */
const IMAGEBUILDER_FEEDS: Record<PackageFormat, { file: string; remote: string; indexCheck: string[] }> = {
  ipk: { file: 'repositories.conf', remote: '^(src/gz [^ ]+ )[^ ]*(/(releases|snapshots)/)', indexCheck: [] },
  apk: {
    file: 'repositories',
    remote: '^()[a-z]+://[^ ]*(/(releases|snapshots)/)',
    indexCheck: [
      'make package_index',
      `staging_dir/host/bin/apk --allow-untrusted adbdump packages/packages.adb 2>/dev/null | grep -qx '  - name: ${TOOLKIT_PACKAGE.name}' || {`,
      // why: the same index without the ImageBuilder's `|| true` and signing shows apk's own words
      '  if staging_dir/host/bin/apk mkndx --allow-untrusted --output /tmp/check.adb packages/*.apk >/dev/null; then',
      `    echo "fwbuild: packages/packages.adb has no ${TOOLKIT_PACKAGE.name}: apk indexes packages/ unsigned, so the ImageBuilder's signing key (keys/local-private-key.pem) is what failed"`,
      `  else echo "fwbuild: packages/packages.adb has no ${TOOLKIT_PACKAGE.name}: the ImageBuilder's package_index left it out (apk's reason above)"; fi`,
      '  exit 1; }',
    ],
  },
};

/** Where the SDK and ImageBuilder images keep the release (docker/openwrt/Dockerfile). */
const OPENWRT_ROOT = '/opt/openwrt';

/**
 * The steps that turn the toolkit into flashable images for an OpenWrt device:
 * - the BPF objects and the model bytecode come from the Debian toolchain, exactly as for the
 *   target's QEMU twin (same CPU family and byte order, so the same cache entries): BPF is
 *   compiled by clang with bpf.mk's byte order, and QuickJS bytecode is written by a runner of
 *   that byte order under qemu-user, which the SDK image has not;
 * - the runner is compiled with the SDK's musl toolchain;
 * - an .ipk is packed by fwbuild (writeIpk), so its bytes depend only on its contents; an .apk by
 *   the SDK's own `apk mkpkg` (apkPackScript), with SOURCE_DATE_EPOCH;
 * - the ImageBuilder makes the images with the package, the overlay as FILES and the config's packages.
 */
export function openwrtSteps(target: OpenWrtTarget, twin: DebianTarget, fwVersion: string, spec: OpenWrtBuildSpec): CompileStep[] {
  const ow = target.openwrt;
  const triple = target.gcc.openwrt;
  if (twin.bpf !== target.bpf || twin.cpu.endian !== target.cpu.endian || twin.cpu.family !== target.cpu.family) {
    throw new BuildError(`target ${target.name}: its twin ${twin.name} must have the same CPU family, byte order and BPF target`);
  }
  const inference = spec.inference ?? 'quickjs';
  const install = packageInstall(inference);
  // the package step waits for the steps whose outputs it carries
  const packed = [...new Set(install.map((i) => i.from.split('/')[0]!))];
  // the twin's runner only writes the model bytecode (the SDK builds the router's): without a QuickJS model, neither is built
  const fromTwin = toolkitSteps(twin, fwVersion, inference)
    .filter((s) => s.name !== 'runner' || INFERENCE[inference].quickjs)
    .map((s): CompileStep => ({ ...s, publish: false, ...(s.name === 'runner' ? { title: `${s.title}: writes the model bytecode` } : {}) }));
  const runner = runnerBuild(inference);
  const slug = targetSlug(target.name);
  const feeds = IMAGEBUILDER_FEEDS[spec.format];
  const conffile = conffileSteps(inference).map((c) => c.name);
  return [
    ...fromTwin,
    ...conffileSteps(inference),
    {
      name: 'sdk-runner',
      title: `runner (OpenWrt SDK ${triple}-gcc, static${INFERENCE[inference].quickjs ? '' : ', without QuickJS'})`,
      image: 'sdk',
      publish: false,
      cmd: [
        'sh',
        '-c',
        [
          'set -e',
          // the SDK's compiler wrappers want STAGING_DIR, and warn (or fail) without it
          `export STAGING_DIR=${OPENWRT_ROOT}/staging_dir`,
          `set -- $STAGING_DIR/toolchain-${ow.arch}_gcc-*`,
          `[ $# -eq 1 ] && [ -x "$1/bin/${triple}-gcc" ] || { echo "the SDK has no toolchain-${ow.arch}_gcc-*/bin/${triple}-gcc (found: $*)"; exit 1; }`,
          `make -j$(nproc) -C ${SRC.runner} CROSS="$1/bin/${triple}-" ${Object.entries(runner.vars).map(([k, v]) => `${k}=${v}`).join(' ')} ` +
            `OUT=${SRC.out}/bin WORK=/tmp/work FW_VERSION=${fwVersion} TARGET_CFLAGS="${target.cpu.cflags.join(' ')}"`,
        ].join('\n'),
      ],
      outputs: { dir: 'bin', kind: 'runner' },
      reads: runner.reads,
    },
    spec.format === 'ipk'
      ? {
          name: 'package',
          title: `package ${TOOLKIT_PACKAGE.name} (.ipk)`,
          cmd: ['fwbuild-host', 'ipk', packageCodeHash, fwVersion],
          outputs: { dir: 'package', kind: 'package' },
          reads: [],
          after: packed,
          host: async (io) => {
            const dir = path.join(io.out, 'package');
            await mkdir(dir, { recursive: true });
            await writeIpk({ target, version: fwVersion, steps: io.after, sourceDateEpoch: io.sourceDateEpoch, inference }, dir);
          },
        }
      : {
          // packed by the release's own apk (staging_dir/host/bin/apk mkpkg), as package-pack.mk does
          name: 'package',
          title: `package ${TOOLKIT_PACKAGE.name} (.apk, the SDK's apk mkpkg)`,
          image: 'sdk',
          cmd: [
            'sh',
            '-c',
            apkPackScript({
              arch: ow.arch,
              version: fwVersion,
              inRoot: '/in',
              install,
              // the init script travels in the package too, so `apk add` on a running router enables it
              extra: [{ from: `${SRC.overlays}/${target.provider}/etc/init.d`, to: 'etc/init.d' }],
              sdkRoot: OPENWRT_ROOT,
              outDir: `${SRC.out}/package`,
            }),
          ],
          outputs: { dir: 'package', kind: 'package' },
          reads: ['overlays'],
          after: packed,
        },
    {
      name: 'image',
      title: `ImageBuilder make image PROFILE=${spec.profile}`,
      image: 'imagebuilder',
      network: spec.mirror !== undefined,
      cmd: [
        'sh',
        '-c',
        [
          'set -e',
          `cd ${OPENWRT_ROOT}`,
          // the ImageBuilder's own local feed: packages/ is indexed by make image
          `mkdir -p packages && cp /in/package/package/*.${spec.format} packages/`,
          // the release's feeds from the configured mirror: only the part before /releases/ or /snapshots/ changes
          `[ -z "$0" ] || sed -i -E "s#${feeds.remote}#\\1\${0%/}\\2#" ${feeds.file}`,
          `echo "feeds (${feeds.file}):"; cat ${feeds.file}`,
          ...feeds.indexCheck,
          'mkdir -p /tmp/files',
          ...['common', target.provider, slug].map((l) => `[ ! -d ${SRC.overlays}/${l} ] || cp -R ${SRC.overlays}/${l}/. /tmp/files/`),
          // an init script in FILES has no postinst to enable it: link it as `/etc/init.d/NAME enable` would
          // the runner's settings for the choice of inference (conffileSteps), over the layers
          ...conffile.map((c) => `cp -R /in/${c}/${CONFFILE_LAYER}/. /tmp/files/`),
          'for s in /tmp/files/etc/init.d/*; do [ -f "$s" ] || continue; n=$(sed -n "s/^START=//p" "$s"); ' +
            '[ -z "$n" ] || { mkdir -p /tmp/files/etc/rc.d && ln -sf "../init.d/${s##*/}" "/tmp/files/etc/rc.d/S$n${s##*/}"; }; done',
          `make image PROFILE="$1" PACKAGES="$2" FILES=/tmp/files BIN_DIR=${SRC.out}/image EXTRA_IMAGE_NAME=fwbuild`,
          `ls ${SRC.out}/image | grep -qE -- '-(sysupgrade|factory)\\.' || { echo "make image made no sysupgrade or factory image for $1"; exit 1; }`,
        ].join('\n'),
        spec.mirror ?? '',
        spec.profile,
        [TOOLKIT_PACKAGE.name, ...spec.packages].join(' '),
      ],
      outputs: { dir: 'image', kind: 'firmware' },
      reads: ['overlays'],
      after: ['package', ...conffile],
      explain: (log) => explainImageBuilderLog(log).map((p) => p.message),
    },
  ];
}
