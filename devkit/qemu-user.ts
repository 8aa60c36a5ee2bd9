import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Target } from '../builder/catalog/target.js';
import { which } from '../builder/util/which.js';

const execFileP = promisify(execFile);

/** Runs a target binary under qemu-user (the `-static` build when installed). */
export async function runUnderQemu(target: Target, args: string[], stdinFile?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const base = target.qemu?.user;
  if (!base) throw new Error(`${target.name} has no qemu-user binary in the catalog`);
  const qemu = (await which(`${base}-static`)) ?? (await which(base));
  if (!qemu) throw new Error(`${base}-static is not installed (apt-get install qemu-user-static)`);
  if (stdinFile) {
    const fh = await open(stdinFile, 'r');
    try {
      return await new Promise((resolve) => {
        const c = execFile(qemu, args, { timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : -1) : 0 }),
        );
        fh.createReadStream().pipe(c.stdin!);
      });
    } finally {
      await fh.close();
    }
  }
  try {
    const { stdout, stderr } = await execFileP(qemu, args, { timeout: 60_000 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

/**
 * Guest instructions of one qemu-user run: with -singlestep, `-d nochain,exec` logs one line per
 * executed instruction. The log goes from stderr straight into wc: billions of bytes need not
 * pass through Node. `stdin` is fed to the program.
 */
export function qemuInstructions(qemu: string, args: string[], stdin = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    // pipefail: a program that fails (a model that does not load, say) is an error, not a count
    const c = execFile('bash', ['-o', 'pipefail', '-c', '"$@" 2>&1 >/dev/null | wc -l', 'bash', qemu, '-singlestep', '-d', 'nochain,exec', ...args], (err, stdout) =>
      err ? reject(new Error(`${args.join(' ')} under ${qemu}: ${err.message}`)) : resolve(Number(stdout.trim())),
    );
    c.stdin!.end(stdin);
  });
}
