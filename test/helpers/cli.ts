import { spawn } from 'node:child_process';
import { projectPath } from '../../builder/util/paths.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI entry point (bin/fwbuild.js through tsx) as a user would. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** run under this umask (octal string, e.g. '077'), as a user's shell would */
  umask?: string;
}

export function spawnCli(args: string[], opts: CliOptions = {}) {
  // Resolved here: `--import=tsx` alone would be looked up from the child's working folder.
  const node = [process.execPath, `--import=${import.meta.resolve('tsx')}`, projectPath('test', 'helpers', 'fwbuild-entry.ts'), ...args];
  const [cmd, ...argv] = opts.umask ? ['sh', '-c', `umask ${opts.umask} && exec "$@"`, 'sh', ...node] : node;
  return spawn(cmd!, argv, {
    cwd: opts.cwd ?? projectPath(),
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
