import { inferenceChoices, type Inference } from './inference.js';
import type { Infer, Schema } from '../util/schema.js';

/** The config the library works with: defaults applied, paths absolute (the keys' types are the schema's). */
export interface ResolvedConfig {
  target?: string;
  profile?: string;
  outDir: string;
  cacheDir: string;
  logDir: string;
  sourceDateEpoch?: number;
  model: string;
  inference: Inference;
  debian: { suite: NonNullable<NonNullable<UserConfig['debian']>['suite']>; mirror?: string };
  /** namespace: the repository prefix of fwbuild's images (`<namespace>/base`, `<namespace>/toolchain`) */
  docker: { socketPath?: string; namespace: string };
  /** Where the config came from, for messages; undefined when only defaults apply. */
  configFile?: string;
  /** fwbuild.lock, next to the config file (or in the working folder without one) */
  lockFile: string;
  openwrt: {
    release: string;
    mirrors: string[];
    downloadDir: string;
    offline: boolean;
    timeout: number;
    keys: string[];
    packages: string[];
    signature: NonNullable<OpenWrtUserConfig['signature']>;
    gpgKeyring?: string;
    gpgFingerprints: string[];
  };
}

/** The defaults, in one place. Paths are relative to the config file's folder (or the working folder). */
export const defaults = {
  /** Relative to the fwbuild checkout, unlike the paths below: the forest `npm run model:make` ships (models/report.md). */
  model: 'models/video-quality.js',
  inference: 'quickjs',
  outDir: 'dist',
  cacheDir: '.fwbuild-cache',
  logDir: 'build/logs',
  debian: { suite: 'bookworm' },
  docker: { namespace: 'fwbuild' },
  // OpenWrt's own download server is the upstream; mirrors of it may replace it (--mirror)
  openwrt: { release: 'stable', mirrors: ['https://downloads.openwrt.org'], downloadDir: 'openwrt', offline: false, timeout: 15, signature: 'usign' },
} as const;

/** Debian suites whose cross toolchains the toolchain image knows how to install. */
export const supportedSuites = ['bookworm'] as const;

/** The config file's keys, declared once: the checker's messages and UserConfig come from here. */
export const configSchema = {
  target: { kind: 'string', optional: true },
  profile: { kind: 'string', optional: true },
  outDir: { kind: 'string', optional: true },
  cacheDir: { kind: 'string', optional: true },
  logDir: { kind: 'string', optional: true },
  /** The model script (defines predict(features)); compiled to bytecode for each target. */
  model: { kind: 'string', optional: true, pattern: /\.js$/, patternHint: 'a path to a .js file that defines predict(features)' },
  /** Where the model runs on the router: quickjs (the runner), kernel (the BPF program), or both. */
  inference: { kind: 'enum', optional: true, values: inferenceChoices },
  // 1980-01-01: zip and some archive formats cannot express earlier times.
  sourceDateEpoch: { kind: 'integer', optional: true, min: 315532800, max: 4102444800 },
  debian: {
    kind: 'object',
    optional: true,
    fields: {
      suite: { kind: 'enum', optional: true, values: supportedSuites },
      mirror: {
        kind: 'string',
        optional: true,
        pattern: /^(https?|file):\/\/\S+$/,
        patternHint: 'an http://, https:// or file:// URL of a Debian mirror',
      },
    },
  },
  docker: {
    kind: 'object',
    optional: true,
    fields: {
      socketPath: { kind: 'string', optional: true },
      namespace: {
        kind: 'string',
        optional: true,
        pattern: /^[a-z0-9]+([._-][a-z0-9]+)*$/,
        patternHint: 'a Docker repository name: lower-case letters, digits and . _ -',
      },
    },
  },
  openwrt: {
    kind: 'object',
    optional: true,
    fields: {
      /** stable | oldstable | snapshot | a series (24.10) | a semver range | a version */
      release: { kind: 'string', optional: true },
      /** The OpenWrt download server or mirrors of it, tried in order (default: OpenWrt's, https://downloads.openwrt.org). */
      mirrors: {
        kind: 'strings',
        optional: true,
        // the URL also lands in the ImageBuilder's feed file through sed: no characters sed or a feed line would read
        pattern: /^https?:\/\/[^\s#&\\'"]+$/,
        patternHint: 'an http:// or https:// URL of OpenWrt\'s download server or a mirror of it (no spaces, #, &, quotes or backslashes)',
      },
      /** Verified downloads, by sha256 (default: <cacheDir>/openwrt). */
      downloadDir: { kind: 'string', optional: true },
      /** Use only the download folder. */
      offline: { kind: 'boolean', optional: true },
      /** Seconds to wait for a connection or for data before trying again, then the next mirror. */
      timeout: { kind: 'integer', optional: true, min: 1, max: 600 },
      /** Extra trusted usign public keys (base64 lines), besides targets/openwrt-keys/usign.json. */
      keys: { kind: 'strings', optional: true },
      /** Packages added to the image besides the toolkit (`-name` removes a default one), as ImageBuilder's PACKAGES. */
      packages: { kind: 'strings', optional: true, pattern: /^-?[a-z0-9][a-z0-9+._-]*$/, patternHint: 'an OpenWrt package name, or -name to leave a default package out' },
      /** `usign` (sha256sums.sig, default) or `gpg` (sha256sums.asc, checked with gpgv against gpgKeyring). */
      signature: { kind: 'enum', optional: true, values: ['usign', 'gpg'] },
      /** gpg: a keyring file with OpenWrt's public keys (`gpg --export … > FILE`). */
      gpgKeyring: { kind: 'string', optional: true },
      /** gpg: trusted fingerprints besides OpenWrt's in targets/openwrt-keys/gpg.json. */
      gpgFingerprints: { kind: 'strings', optional: true, pattern: /^(0x)?[0-9A-Fa-f ]{40,50}$/, patternHint: 'a 40-digit gpg fingerprint' },
    },
  },
} as const satisfies Schema;

/** The config as written by a user: every key optional. */
export type UserConfig = Infer<typeof configSchema>;
export type OpenWrtUserConfig = NonNullable<UserConfig['openwrt']>;

