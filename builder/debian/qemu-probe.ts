import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DebianTarget, Target } from '../catalog/target.js';
import { EM, machineForFamily } from '../util/elf.js';
import { qemuCommand, qemuSystemPackage } from './qemu-command.js';
import type { RouterPorts } from './router-conf.js';

/**
 * Files QEMU loads for a device or machine, by the Debian package that ships them. QEMU names
 * the file it could not find; this table turns that into the package to install.
 */
const QEMU_FILES: readonly { pattern: RegExp; pkg: string }[] = [
  { pattern: /^(efi|pxe)-[\w-]+\.rom$/, pkg: 'ipxe-qemu' },
  { pattern: /^(bios|bios-256k|bios-microvm|vgabios[\w-]*)\.bin$/, pkg: 'seabios' },
  { pattern: /\.(rom|bin|dtb|img|fd)$/, pkg: 'qemu-system-data' },
];

export interface ProbeResult {
  ok: boolean;
  /** QEMU's own complaint when it refused the command line */
  detail: string;
  /** `apt-get install -y …` when the complaint names a file a Debian package ships */
  fix?: string;
}

/** A started QEMU: the probe talks to it over QMP and ends it. */
export interface Launched {
  exited: Promise<{ code: number | null; output: string }>;
  kill(): Promise<void>;
}
/** Starts argv somewhere (on this host, in a container) where it can make tap devices. */
export type Launcher = (argv: string[], dir: string) => Promise<Launched>;

/**
 * The smallest kernel QEMU will load for the target's CPU: one ELF segment holding a branch to
 * itself. It never runs (`-S`); malta loads only ELF kernels, the ARM boards take it too.
 */
export function probeKernel(cpu: Target['cpu']): Buffer {
  const be = cpu.endian === 'big';
  const b = Buffer.alloc(52 + 32 + 8);
  const u16 = (v: number, o: number): number => (be ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const u32 = (v: number, o: number): number => (be ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  const machine = machineForFamily(cpu.family);
  const load = machine === EM.MIPS ? 0x80100000 : 0x40010000; // malta's KSEG0, virt's RAM
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 1; // ELFCLASS32
  b[5] = be ? 2 : 1;
  b[6] = 1; // EV_CURRENT
  u16(2, 16); // ET_EXEC
  u16(machine, 18);
  u32(1, 20);
  u32(load, 24); // e_entry
  u32(52, 28); // e_phoff
  u16(52, 40); // e_ehsize
  u16(32, 42); // e_phentsize
  u16(1, 44); // e_phnum
  u32(1, 52); // PT_LOAD
  u32(84, 56); // p_offset
  u32(load, 60); // p_vaddr
  u32(load, 64); // p_paddr
  u32(8, 68); // p_filesz
  u32(8, 72); // p_memsz
  u32(5, 76); // R+X
  u32(4, 80); // p_align
  u32(machine === EM.MIPS ? 0x1000ffff : 0xeafffffe, 84); // b . (MIPS; ARM)
  return b;
}

/** The Debian package QEMU's complaint points at, if it names a file it could not load. */
export function packageForQemuError(output: string): string | undefined {
  const m = /(?:romfile|firmware|bios|file)\s+"?'?([\w.+-]+\.(?:rom|bin|dtb|img|fd))/i.exec(output);
  if (!m) return undefined;
  return QEMU_FILES.find((f) => f.pattern.test(m[1]!))?.pkg;
}

/**
 * Starts the target's QEMU command line exactly as a build records it (`qemuCommand`), paused
 * before the first guest instruction (`-S`), and asks it over QMP whether it is ready. QEMU
 * creates every device before it answers, so "prelaunch" means it accepted all of them; a
 * missing ROM, firmware or binary makes it exit with the file's name instead.
 */
export async function probeQemu(target: DebianTarget, ports: RouterPorts, launch: Launcher, timeoutMs = 60_000): Promise<ProbeResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-probe-'));
  try {
    const files = { kernel: path.join(dir, 'kernel.elf'), initramfs: path.join(dir, 'initramfs') };
    await writeFile(files.kernel, probeKernel(target.cpu));
    await writeFile(files.initramfs, Buffer.alloc(512));
    const qmp = path.join(dir, 'qmp.sock');
    const argv = [...qemuCommand(target.qemu, files, ports, { lan: 'fwprobe0', wan: 'fwprobe1' }), '-S', '-qmp', `unix:${qmp},server=on,wait=off`];
    const q = await launch(argv, dir);
    try {
      const answer = await Promise.race([
        askStatus(qmp, timeoutMs),
        q.exited.then(({ code, output }) => ({ exited: code, output })),
      ]).catch((e: Error) => ({ exited: null, output: e.message }));
      if ('status' in answer) {
        return answer.status === 'prelaunch'
          ? { ok: true, detail: `${target.qemu.system} -M ${target.qemu.machine} accepted every device` }
          : { ok: false, detail: `QEMU is in state "${answer.status}", expected "prelaunch"` };
      }
      const output = answer.output.trim() || `exit code ${answer.exited}`;
      const missingBinary = /executable file not found|ENOENT|No such file or directory/.test(output) && output.includes(target.qemu.system);
      const pkg = missingBinary ? qemuSystemPackage(target.qemu.system) : packageForQemuError(output);
      return { ok: false, detail: `${target.qemu.system} refused ${target.name}'s command line: ${output}`, ...(pkg ? { fix: `apt-get install -y ${pkg}` } : {}) };
    } finally {
      await q.kill();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Connects to QEMU's QMP socket (retrying until it exists), negotiates and asks `query-status`.
 * Never resolves if QEMU dies first: the caller races it against the process's exit.
 */
function askStatus(socket: string, timeoutMs: number): Promise<{ status: string }> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect(socket);
      let buf = '';
      let sent = 0;
      s.on('data', (d) => {
        buf += d.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let msg: { QMP?: unknown; return?: { status?: string }; event?: string };
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            continue;
          }
          if (msg.event) continue;
          if (msg.QMP) s.write('{"execute":"qmp_capabilities"}\n');
          else if (sent++ === 0) s.write('{"execute":"query-status"}\n');
          else if (msg.return?.status) {
            s.end();
            resolve({ status: msg.return.status });
          }
        }
      });
      s.on('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`QEMU's QMP socket did not answer within ${Math.round(timeoutMs / 1000)} s`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Runs QEMU on this host in a network namespace of its own, so its tap devices vanish with it. */
export const hostLauncher: Launcher = async (argv) => {
  const child = spawn('unshare', ['--net', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, output }));
    child.on('error', (e) => resolve({ code: null, output: `cannot start ${argv[0]}: ${e.message}` }));
  });
  return {
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
};
