import { parseArgs, type ParseArgsConfig } from 'node:util';
// the CLI is a shell over the library API: everything it runs comes through index.ts
import {
  build,
  doctor,
  fetchOpenWrt,
  FwbuildError,
  fwbuildVersion,
  InterruptedError,
  loadCatalog,
  loadConfig,
  isVirtualRouter,
  testRouter,
  twinOf,
  UsageError,
  verify,
  type RouterTestReport,
  type Target,
} from './index.js';
import { didYouMean } from './util/suggest.js';

/**
 * The command line is a thin shell over the library (index.ts): parse, call, print, exit code.
 * Exit codes: 0 ok, 1 build or check failed, 2 bad usage or config, 130 interrupted.
 */

const common = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string', short: 'c' },
  'cache-dir': { type: 'string' },
  'out-dir': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** Where OpenWrt's files come from: fetch, and builds of OpenWrt targets. */
const openwrtSource = {
  release: { type: 'string' },
  mirror: { type: 'string', multiple: true },
  offline: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const commands = {
  build: {
    summary: 'cross-compile the toolkit for targets and write dist/<target>/ (OpenWrt devices: the package and flashable images)',
    usage:
      'usage: fwbuild build --target NAME [--target NAME…] [--profile P] [--frozen] [--json]   (`build` may be left out)\n' +
      '       OpenWrt targets: --profile DEVICE is required; [--release R] [--mirror URL…] [--offline]',
    options: {
      ...common,
      ...openwrtSource,
      target: { type: 'string', short: 't', multiple: true },
      profile: { type: 'string', short: 'p' },
      frozen: { type: 'boolean' },
    },
  },
  verify: {
    summary: 'rebuild a published target from an empty cache and compare every file',
    usage: 'usage: fwbuild verify --target NAME [--json]   (OpenWrt targets: [--mirror URL…] [--offline])',
    options: { ...common, mirror: openwrtSource.mirror, offline: openwrtSource.offline, target: { type: 'string', short: 't', multiple: true } },
  },
  test: {
    summary: 'boot a virtual router in QEMU, send known traffic through it and check what the runner saw',
    usage: 'usage: fwbuild test --target NAME [--boot-timeout SECONDS] [--frozen] [--json]   (virtual routers: qemu-*; needs root)',
    options: { ...common, target: { type: 'string', short: 't', multiple: true }, 'boot-timeout': { type: 'string' }, frozen: { type: 'boolean' } },
  },
  fetch: {
    summary: 'download and verify the OpenWrt SDK, ImageBuilder and profiles of a device (for --offline later)',
    usage: 'usage: fwbuild fetch --target NAME --profile DEVICE [--release R] [--mirror URL…] [--offline] [--frozen] [--json]',
    options: {
      ...common,
      target: { type: 'string', short: 't', multiple: true },
      profile: { type: 'string', short: 'p' },
      ...openwrtSource,
      frozen: { type: 'boolean' },
    },
  },
  targets: {
    summary: 'list the target catalog',
    usage: 'usage: fwbuild targets [--json]',
    options: common,
  },
  doctor: {
    summary: 'check this host (Docker, QEMU, disk) and say how to fix each gap',
    usage: 'usage: fwbuild doctor [--json]',
    options: common,
  },
  help: { summary: 'show this help', usage: 'usage: fwbuild help [COMMAND]', options: common },
} as const;

type CommandName = keyof typeof commands;
const commandNames = Object.keys(commands) as CommandName[];

function helpText(cmd?: CommandName): string {
  const optLines = (c: CommandName): string =>
    Object.entries(commands[c].options)
      .map(([k, v]) => `  --${k}${v.type === 'string' ? ' VALUE' : ''}`)
      .join('\n');
  if (cmd && cmd !== 'help') {
    return `${commands[cmd].usage}\n\n${commands[cmd].summary}\n\noptions:\n${optLines(cmd)}\n`;
  }
  return (
    `fwbuild ${fwbuildVersion}: builds the eBPF traffic-analysis toolkit for routers\n\n` +
    `usage: fwbuild COMMAND [options]   (a bare --target means build)\n\ncommands:\n` +
    commandNames.map((c) => `  ${c.padEnd(8)} ${commands[c].summary}`).join('\n') +
    `\n\nevery command takes --json (one JSON document on stdout) and --help.\n` +
    `exit codes: 0 ok, 1 build or check failed, 2 bad usage or config, 130 interrupted\n`
  );
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function parse(argv: string[]): { cmd: CommandName; explicit: boolean; values: Record<string, unknown>; json: boolean } {
  const first = argv[0];
  let cmd: CommandName = 'build';
  let rest = argv;
  if (first && !first.startsWith('-')) {
    if (!(commandNames as string[]).includes(first)) {
      throw new UsageError(`unknown command "${first}"${didYouMean(first, commandNames)}; accepted: ${commandNames.join(', ')}`);
    }
    cmd = first as CommandName;
    rest = argv.slice(1);
  } else if (argv.length === 0) {
    cmd = 'help';
  }
  const spec = commands[cmd];
  try {
    const { values, positionals } = parseArgs({ args: rest, options: spec.options, strict: true, allowPositionals: cmd === 'help' });
    if (cmd === 'help' && positionals[0]) {
      const p = positionals[0];
      if (!(commandNames as string[]).includes(p)) throw new UsageError(`unknown command "${p}"${didYouMean(p, commandNames)}`);
      return { cmd: 'help', explicit: true, values: { ...values, topic: p }, json: !!values.json };
    }
    return { cmd, explicit: rest !== argv, values, json: !!values.json };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const msg = (e as Error).message;
    const opt = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
    const names = Object.keys(spec.options).map((k) => `--${k}`);
    throw new UsageError(
      `${cmd}: ${msg.split('.')[0]}${opt ? didYouMean(opt, names) : ''}; accepted options: ${names.join(', ')}`,
    );
  }
}

function targetsTable(targets: readonly Target[]): string {
  const rows = targets.map((t) => [
    t.name,
    t.provider,
    `${t.cpu.family} ${t.cpu.endian}`,
    t.bpf,
    'openwrt' in t ? t.openwrt.arch : '',
    t.gcc.debian ?? '',
    twinOf(t) ? `twin: ${twinOf(t)}` : t.qemu ? `${t.qemu.system} -M ${t.qemu.machine}` : '',
  ]);
  const head = ['target', 'provider', 'cpu', 'bpf', 'openwrt arch', 'gcc (debian)', 'qemu'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), ...rows.map(fmt)].join('\n') + '\n';
}

/** One line for a newcomer after a build: what boots what was just built. */
export function nextStep(built: readonly Target[]): string | undefined {
  // a target with a kernel of its own is a virtual router; a device target names its QEMU twin
  const bootable = [...new Set(built.map((t) => (isVirtualRouter(t) ? t.name : twinOf(t))).filter((n): n is string => !!n))];
  if (bootable.length === 0) return undefined;
  const devices = built.filter((t) => !isVirtualRouter(t) && twinOf(t));
  return (
    `next: ${bootable.map((n) => `fwbuild test --target ${n}`).join(', then ')} boots ${bootable.length > 1 ? 'them' : 'it'} in QEMU ` +
    `and sends traffic through (as root)` +
    (devices.length ? `; ${devices.map(twinOf).join(', ')} ${devices.length > 1 ? 'are the QEMU twins' : 'is the QEMU twin'} of ${devices.map((d) => d.name).join(', ')}` : '')
  );
}

function routerReportText(r: RouterTestReport): string {
  const rows = r.flows.checks.map(
    (c) =>
      `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(12)} sent ${String(c.expected.up).padStart(4)} B up ${String(c.expected.down).padStart(8)} B down; ` +
      (c.seen ? `runner ${String(c.seen.up).padStart(4)} B up ${String(c.seen.down).padStart(8)} B down in ${c.seen.windows} window(s)` : 'never reported'),
  );
  return [
    `${r.target}: ${r.ok ? 'passed' : 'FAILED'} in ${r.seconds.toFixed(1)} s`,
    `  boot to runner ready ${r.bootSeconds.toFixed(1)} s, to first prediction ${r.firstPredictionSeconds?.toFixed(1) ?? '-'} s; ` +
      `${r.runner.jited} of ${r.runner.programs} BPF programs JIT-compiled; runner VmHWM ${r.runner.vmHwmKb ?? '?'} kB`,
    ...rows,
    `  predictions: ${r.predictions.withPrediction} of ${r.predictions.lines} flow lines, ${r.predictions.matchingReference} equal to Node.js on the same features`,
    ...(r.kernel
      ? [`  in-kernel model: answers in ${r.kernel.lines} flow lines, up to ${r.kernel.windows} window(s) of one flow; e.g. ${JSON.stringify(r.kernel.sample[0] ?? null)}`]
      : []),
    `  other flows the runner saw (ICMP, neighbour discovery): ${r.flows.extra}; UDP ${r.udp.received} of ${r.udp.sent} datagrams arrived`,
    ...Object.entries(r.hooks ?? {}).map(
      ([hook, c]) =>
        `  LAN port ${hook}: ${c.packets} packets (IPv4 ${c.ipv4}, IPv6 ${c.ipv6}, other ${c.nonIp}), ` +
        `${c.flowsCreated} flows created, ${c.flowFailed} packets in no flow`,
    ),
    ...r.failures.map((f) => `  failure: ${f}`),
    `  serial console: ${r.consoleLog}`,
    '',
  ].join('\n');
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let json = argv.includes('--json');
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    io.err(`\nfwbuild: ${sig} received, stopping containers and removing partial build outputs (a partial download stays as <file>.part, to resume)…\n`);
    controller.abort(new InterruptedError(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // As dpkg-buildpackage does: what fwbuild writes (extracted sources, cached step outputs that
  // later steps read as the build user, dist/) must not depend on the caller's umask.
  process.umask(0o022);
  try {
    const { cmd, explicit, values, json: j } = parse(argv);
    json = j;
    if (values.help || cmd === 'help') {
      const topic = (values.topic as CommandName | undefined) ?? (explicit && cmd !== 'help' ? cmd : undefined);
      if (json) io.out(`${JSON.stringify({ ok: true, help: helpText(topic) })}\n`);
      else io.out(helpText(topic));
      return 0;
    }
    const config = await loadConfig({
      file: values.config as string | undefined,
      overrides: {
        outDir: values['out-dir'] as string | undefined,
        cacheDir: values['cache-dir'] as string | undefined,
        profile: values.profile as string | undefined,
        openwrt: {
          ...(values.release !== undefined ? { release: values.release as string } : {}),
          ...(values.mirror !== undefined ? { mirrors: values.mirror as string[] } : {}),
          ...(values.offline ? { offline: true } : {}),
        },
      },
    });
    const catalog = await loadCatalog();
    switch (cmd) {
      case 'targets':
        if (json) io.out(`${JSON.stringify({ ok: true, targets: catalog.targets }, null, 2)}\n`);
        else io.out(targetsTable(catalog.targets));
        return 0;
      case 'doctor': {
        const report = await doctor(config, catalog);
        if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else {
          for (const c of report.checks) {
            io.out(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(26)} ${c.detail}\n${c.fix ? `      fix: ${c.fix}\n` : ''}`);
          }
        }
        return report.ok ? 0 : 1;
      }
      case 'verify': {
        const names = (values.target as string[] | undefined)?.flatMap((t) => t.split(',')).filter(Boolean) ?? [];
        const name = names[0] ?? config.target;
        if (!name || names.length > 1) throw new UsageError('verify takes one target: fwbuild verify --target NAME');
        const report = await verify(config, catalog, name, {
          signal: controller.signal,
          renderer: json ? 'silent' : 'default',
        });
        if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else {
          const bad = report.files.filter((f) => !f.same);
          io.out(
            bad.length === 0
              ? `${report.target}: all ${report.files.length} files rebuilt bit for bit (${report.seconds.toFixed(1)} s)\n`
              : `${report.target}: ${bad.length} of ${report.files.length} files differ:\n` +
                  bad.map((f) => `  ${f.path}: published ${f.expected.slice(0, 16) || '(absent)'}, rebuilt ${f.rebuilt?.slice(0, 16) ?? '(absent)'}\n`).join('') +
                  (report.firstDifference
                    ? `  first difference inside ${report.firstDifference.path}: ${report.firstDifference.inner}: ${report.firstDifference.detail}\n`
                    : ''),
          );
        }
        return report.ok ? 0 : 1;
      }
      case 'fetch': {
        const names = (values.target as string[] | undefined)?.flatMap((t) => t.split(',')).filter(Boolean) ?? [];
        const name = names[0] ?? config.target;
        if (!name || names.length > 1) throw new UsageError('fetch takes one target: fwbuild fetch --target NAME --profile DEVICE');
        const report = await fetchOpenWrt(config, catalog, {
          target: name,
          ...(config.profile ? { profile: config.profile } : {}),
          signal: controller.signal,
          frozen: !!values.frozen,
          say: json ? () => {} : (s) => io.err(`${s}\n`),
        });
        if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else {
          io.out(
            `${report.target} ${report.release.version}, profile ${report.profile.id}: sha256sums signed by usign key ${report.signedBy}\n` +
              [report.sdk, report.imageBuilder, report.profiles].map((f) => `  ${f.name}\n    sha256 ${f.sha256}\n    ${f.file}\n`).join('') +
              (report.lock?.written ? `${report.lock.file} updated:\n${report.lock.changes.map((l) => `  ${l}\n`).join('')}` : ''),
          );
        }
        return 0;
      }
      case 'test': {
        const names = (values.target as string[] | undefined)?.flatMap((t) => t.split(',')).filter(Boolean) ?? [];
        const name = names[0] ?? config.target;
        if (!name || names.length > 1) throw new UsageError('test takes one target: fwbuild test --target NAME');
        const bootTimeout = values['boot-timeout'] === undefined ? undefined : Number(values['boot-timeout']);
        if (bootTimeout !== undefined && !(bootTimeout > 0)) {
          throw new UsageError(`--boot-timeout "${String(values['boot-timeout'])}" is not a number of seconds above 0`);
        }
        const report = await testRouter(config, catalog, name, {
          signal: controller.signal,
          renderer: json ? 'silent' : 'default',
          ...(bootTimeout ? { bootTimeout } : {}),
          frozen: !!values.frozen,
          say: json ? () => {} : (s) => io.err(`${s}\n`),
        });
        if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else io.out(routerReportText(report));
        return report.ok ? 0 : 1;
      }
      case 'build': {
        const fromCli = (values.target as string[] | undefined)?.flatMap((t) => t.split(',')).filter(Boolean);
        const targets = fromCli?.length ? fromCli : config.target ? [config.target] : [];
        const report = await build(
          config,
          catalog,
          { targets, ...(config.profile ? { profile: config.profile } : {}) },
          {
            signal: controller.signal,
            renderer: json ? 'silent' : 'default',
            frozen: !!values.frozen,
            ...(process.env.FWBUILD_RUN_ID ? { runId: process.env.FWBUILD_RUN_ID } : {}),
          },
        );
        if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
        else {
          for (const t of report.targets) {
            io.out(`\n${t.target}: ${t.outDir}\n`);
            for (const a of t.artifacts) io.out(`  ${a.path.padEnd(28)} ${a.arch.padEnd(12)} ${String(a.size).padStart(8)} B  ${a.sha256.slice(0, 16)}\n`);
          }
          if (report.lock.written) {
            io.out(`\n${report.lock.file} updated:\n${report.lock.changes.slice(0, 12).map((c) => `  ${c}\n`).join('')}` +
              (report.lock.changes.length > 12 ? `  … and ${report.lock.changes.length - 12} more\n` : ''));
          }
          io.out(`done in ${report.seconds.toFixed(1)} s\n`);
          const next = nextStep(report.targets.map((t) => catalog.resolve(t.target)));
          if (next) io.out(`${next}\n`);
        }
        return 0;
      }
    }
  } catch (e) {
    const err = controller.signal.aborted ? new InterruptedError('SIGINT') : e;
    const code = err instanceof FwbuildError ? err.exitCode : 1;
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof FwbuildError ? err.hint : undefined;
    if (json) io.out(`${JSON.stringify({ ok: false, error: { message, exitCode: code, ...(hint ? { hint } : {}) } })}\n`);
    io.err(`fwbuild: ${message}\n${hint ? `  hint: ${hint}\n` : ''}`);
    if (!(err instanceof FwbuildError)) io.err(`${(err as Error).stack ?? ''}\n`);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
