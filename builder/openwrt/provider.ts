import { isVirtualRouter, type DebianTarget, type OpenWrtTarget } from '../catalog/target.js';
import type { ImageResult } from '../docker/base-image.js';
import { BuildError, UsageError } from '../errors.js';
import type { Job, Provider } from '../provider.js';
import { targetSlug } from '../util/paths.js';
import { StepLog } from '../util/steplog.js';
import { fetchOpenWrt, withOpenWrtEntry, type FetchReport } from './fetch.js';
import { ensureOpenWrtImage, type OpenWrtKit } from './images.js';
import { packageFormat } from './package.js';
import { openwrtSteps } from './steps.js';

const KIT_NAME: Record<OpenWrtKit, string> = { sdk: 'SDK', imagebuilder: 'ImageBuilder' };

/**
 * OpenWrt devices: the release's signed SDK and ImageBuilder are fetched and verified, turned
 * into images, and the toolkit (from the target's twin, a virtual router of the same CPU) is
 * packed and baked into the device's flashable images.
 */
export const openwrtProvider: Provider<OpenWrtTarget> = {
  name: 'openwrt',

  check(t, all) {
    if (!t.twin) return [];
    const twin = all.find((o) => o.name === t.twin);
    if (!twin) return [`key "twin" names unknown target "${t.twin}"`];
    // the twin builds the BPF objects and the bytecode: it must be a virtual router, with a Debian toolchain
    if (!isVirtualRouter(twin)) return [`key "twin": "${t.twin}" is not a debian (QEMU) target`];
    if (twin.cpu.family !== t.cpu.family || twin.cpu.endian !== t.cpu.endian) {
      return [
        `key "twin": "${t.twin}" is ${twin.cpu.family} ${twin.cpu.endian}-endian but this target is ` +
          `${t.cpu.family} ${t.cpu.endian}-endian; a twin must run the same CPU family and byte order`,
      ];
    }
    return [];
  },

  plan(target, profile, env) {
    // the profile is checked against the release's profiles.json once that is fetched
    if (!profile) {
      throw new UsageError(
        `an OpenWrt target needs --profile (the device): fwbuild --target ${target.name} --profile NAME`,
        `fwbuild fetch --target ${target.name} lists the release's profiles`,
      );
    }
    if (!target.twin) throw new BuildError(`target ${target.name} names no twin in its catalog entry: the debian target of its CPU`);
    const twin = env.catalog.resolve(target.twin) as DebianTarget; // the catalog checked it is a debian target (check above)
    const { config, signal, sourceDateEpoch } = env;
    const slug = targetSlug(target.name);
    let fetched: FetchReport | undefined;
    const made: Partial<Record<OpenWrtKit, ImageResult>> = {};
    const release = (): FetchReport => {
      if (!fetched) throw new BuildError(`OpenWrt ${target.name}: the release was not fetched before its images and steps`);
      return fetched;
    };

    const fetch: Job = {
      title: `OpenWrt ${config.openwrt.release} for ${target.name} (${profile}): signed sums, profile, SDK, ImageBuilder`,
      async run({ say }) {
        fetched = await fetchOpenWrt(config, env.catalog, { target: target.name, profile, signal, say, record: false });
        return `OpenWrt ${fetched.release.version} ${fetched.dir} for ${fetched.profile.id} (sha256sums signed by ${fetched.signedBy})`;
      },
    };
    const images = (['sdk', 'imagebuilder'] as const).map(
      (kit): Job => ({
        title: `OpenWrt ${KIT_NAME[kit]} image`,
        async run({ docker, base, say }) {
          const tarball = kit === 'sdk' ? release().sdk : release().imageBuilder;
          const image = await ensureOpenWrtImage(docker, base, kit, tarball, {
            log: await StepLog.open(config.logDir, slug, `${kit}-image`),
            signal,
            say,
            sourceDateEpoch,
            namespace: config.docker.namespace,
            tmpDir: config.cacheDir,
          });
          made[kit] = image;
          return `OpenWrt ${KIT_NAME[kit]} image ${image.ref} (${image.built ? 'built' : 'reused'}) from ${tarball.name}`;
        },
      }),
    );

    return {
      target,
      profile,
      fetch: [fetch],
      images,
      // the release's package format (ipk or apk) decides the package and image steps
      steps: () =>
        openwrtSteps(target, twin, env.fwVersion, {
          profile,
          packages: config.openwrt.packages,
          format: packageFormat(release().release),
          inference: config.inference,
          ...(config.openwrt.offline ? {} : { mirror: config.openwrt.mirrors[0]! }),
        }),
      image: (name) => (name === 'sdk' || name === 'imagebuilder' ? made[name] : undefined),
      lock: (lock) => withOpenWrtEntry(lock, release().target, release().entry).next,
      async manifest() {
        const f = release();
        const kit = (file: { name: string; sha256: string }, image: ImageResult | undefined) => {
          if (!image) throw new BuildError(`OpenWrt ${target.name}: the image for ${file.name} was not made`);
          return { name: file.name, sha256: file.sha256, image: { ref: image.ref, id: image.id } };
        };
        return {
          inputs: {
            openwrt: {
              release: f.release.version,
              dir: f.dir,
              signedBy: f.signedBy,
              packages: config.openwrt.packages,
              sdk: kit(f.sdk, made.sdk),
              imageBuilder: kit(f.imageBuilder, made.imagebuilder),
            },
          },
        };
      },
    };
  },
};
