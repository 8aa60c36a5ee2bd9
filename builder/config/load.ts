import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { LOCK_FILE } from '../lock/lockfile.js';
import { UsageError } from '../errors.js';
import { check } from '../util/schema.js';
import { projectPath } from '../util/paths.js';
import { configSchema, defaults, type ResolvedConfig, type UserConfig } from './config.js';

export interface LoadConfigOptions {
  /** Folder to search from (default: the working folder). */
  cwd?: string;
  /** An explicit config file (`--config`). */
  file?: string;
  /** Values from the command line; they win over the file and the environment. */
  overrides?: UserConfig;
  env?: NodeJS.ProcessEnv;
}

/**
 * Finds `fwbuild.config.*`, `.fwbuildrc*` or `package.json#fwbuild`, validates it and applies
 * defaults. Precedence: command line, then environment (FWBUILD_OUT_DIR, FWBUILD_CACHE_DIR),
 * then the file, then `defaults`.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  // cosmiconfig's defaults leave out fwbuild.config.json and .yaml, which the README promises
  const explorer = cosmiconfig('fwbuild', {
    searchPlaces: [
      'package.json',
      ...['', '.json', '.yaml', '.yml', '.js', '.mjs', '.cjs'].map((ext) => `.fwbuildrc${ext}`),
      ...['.json', '.yaml', '.yml', '.js', '.mjs', '.cjs', '.ts'].map((ext) => `fwbuild.config${ext}`),
    ],
  });
  let found: { config: unknown; filepath: string } | null;
  try {
    found = options.file ? await explorer.load(path.resolve(cwd, options.file)) : await explorer.search(cwd);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new UsageError(`config file ${options.file} does not exist`);
    throw new UsageError(`config file could not be read: ${err.message.split('\n')[0]}`);
  }
  const fromFile = found?.config ?? {};
  const where = found ? path.relative(cwd, found.filepath) || found.filepath : 'config';
  const issues = check(fromFile, configSchema);
  if (issues.length > 0) {
    const first = issues[0]!;
    throw new UsageError(`${where}: key "${first.key}" ${first.message}`);
  }
  const user = fromFile as UserConfig;
  const o = options.overrides ?? {};
  // --mirror gets the file's rules
  const cliIssue = o.openwrt?.mirrors ? check({ openwrt: { mirrors: o.openwrt.mirrors } }, configSchema)[0] : undefined;
  if (cliIssue) throw new UsageError(`--mirror: ${cliIssue.message.replace(/^has /, '')}`);
  const base = found ? path.dirname(found.filepath) : cwd;
  // Command-line paths are relative to where the user typed them; file paths to the file.
  const dir = (cli: string | undefined, envVar: string | undefined, file: string | undefined, dflt: string): string =>
    cli !== undefined ? path.resolve(cwd, cli) : envVar ? path.resolve(cwd, envVar) : path.resolve(base, file ?? dflt);

  const sourceDateEpoch = o.sourceDateEpoch ?? user.sourceDateEpoch;
  const model = user.model ? path.resolve(base, user.model) : projectPath(defaults.model);
  const mirror = user.debian?.mirror;
  const socketPath = user.docker?.socketPath;
  return {
    target: o.target ?? user.target,
    profile: o.profile ?? user.profile,
    outDir: dir(o.outDir, env.FWBUILD_OUT_DIR, user.outDir, defaults.outDir),
    cacheDir: dir(o.cacheDir, env.FWBUILD_CACHE_DIR, user.cacheDir, defaults.cacheDir),
    logDir: dir(o.logDir, undefined, user.logDir, defaults.logDir),
    ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
    model,
    inference: user.inference ?? defaults.inference,
    debian: { suite: user.debian?.suite ?? defaults.debian.suite, ...(mirror ? { mirror } : {}) },
    docker: { ...(socketPath ? { socketPath } : {}), namespace: user.docker?.namespace ?? defaults.docker.namespace },
    ...(found ? { configFile: found.filepath } : {}),
    lockFile: path.join(base, LOCK_FILE),
    openwrt: {
      release: o.openwrt?.release ?? user.openwrt?.release ?? defaults.openwrt.release,
      mirrors: o.openwrt?.mirrors ?? user.openwrt?.mirrors ?? [...defaults.openwrt.mirrors],
      // relative to the cache folder unless given: downloads are a cache too
      downloadDir: user.openwrt?.downloadDir
        ? path.resolve(base, user.openwrt.downloadDir)
        : path.join(dir(o.cacheDir, env.FWBUILD_CACHE_DIR, user.cacheDir, defaults.cacheDir), defaults.openwrt.downloadDir),
      offline: o.openwrt?.offline ?? user.openwrt?.offline ?? defaults.openwrt.offline,
      timeout: user.openwrt?.timeout ?? defaults.openwrt.timeout,
      keys: user.openwrt?.keys ?? [],
      packages: user.openwrt?.packages ?? [],
      signature: user.openwrt?.signature ?? defaults.openwrt.signature,
      ...(user.openwrt?.gpgKeyring ? { gpgKeyring: path.resolve(base, user.openwrt.gpgKeyring) } : {}),
      gpgFingerprints: user.openwrt?.gpgFingerprints ?? [],
    },
  };
}
