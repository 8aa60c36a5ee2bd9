import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, InterruptedError } from '../errors.js';

/**
 * One QEMU virtual router: started inside a network namespace (which holds its tap devices),
 * its serial console saved to a file line by line, and a shell on that console for commands.
 * `stop()` always leaves no QEMU process behind, whatever happened before.
 */
export class QemuRouter {
  private readonly lines: string[] = [];
  private partial = '';
  private readonly listeners = new Set<(line: string) => void>();
  private commands = 0;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly log: WriteStream,
    readonly consoleLog: string,
    readonly startedAt: number,
  ) {
    this.exited = new Promise((resolve) => {
      child.on('close', (code) => {
        this.exitCode = code;
        this.log.end();
        resolve(code);
      });
    });
    child.stdout.on('data', (d: Buffer) => this.feed(d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => this.feed(d.toString('latin1')));
  }

  /** Starts `argv` (a qemu-system command line) in `netns`; the console goes to `consoleLog`. */
  static async start(argv: string[], o: { netns: string; consoleLog: string }): Promise<QemuRouter> {
    await mkdir(path.dirname(o.consoleLog), { recursive: true });
    const log = createWriteStream(o.consoleLog);
    // `ip netns exec` execs QEMU in place: the child's pid is QEMU's, signals reach it directly
    const child = spawn('ip', ['netns', 'exec', o.netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    const router = new QemuRouter(child, log, o.consoleLog, Date.now());
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new BuildError(`cannot start ${argv[0]}: ${e.message}`)));
    });
    return router;
  }

  private feed(text: string): void {
    this.log.write(text);
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!;
    for (const raw of parts) {
      const line = raw.replace(/\r/g, '');
      this.lines.push(line);
      for (const l of this.listeners) l(line);
    }
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Calls `fn` for every console line from now on; returns the function that stops it. */
  onLine(fn: (line: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The last `n` console lines, for error messages. */
  tail(n = 25): string {
    return [...this.lines.slice(-n), this.partial].join('\n').trim();
  }

  /**
   * Resolves with the first console line (already seen or still to come) that `test` accepts;
   * fails naming `what`, the timeout and the console log when it does not come, or at once on
   * a line `never` accepts (one that says it will not come).
   */
  waitForLine(
    test: (line: string) => boolean,
    what: string,
    timeoutMs: number,
    signal?: AbortSignal,
    never?: (line: string) => boolean,
  ): Promise<string> {
    const seen = this.lines.find((l) => test(l) || never?.(l));
    if (seen !== undefined && test(seen)) return Promise.resolve(seen);
    if (seen !== undefined) return Promise.reject(this.failure(what, `"${seen.trim()}"`));
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const off = this.onLine((l) => {
        if (test(l)) done(() => resolve(l));
        else if (never?.(l)) fail(`"${l.trim()}"`);
      });
      const fail = (why: string): void => done(() => reject(this.failure(what, why)));
      const timer = setTimeout(() => fail(`nothing after ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
      const onAbort = (): void => done(() => reject(new InterruptedError('SIGINT')));
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.exited.then((code) => fail(`QEMU exited (code ${code}) first`));
    });
  }

  private failure(what: string, why: string): BuildError {
    return new BuildError(`${what}: ${why}; console log: ${this.consoleLog}\n--- last console lines ---\n${this.tail()}`);
  }

  /**
   * Runs a shell command on the console and returns its output (the lines between two markers,
   * minus anything that is a JSON line from the runner, which shares the console).
   */
  async run(cmd: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<{ output: string[]; status: number }> {
    const n = ++this.commands;
    const begin = `fwq-${n}-begin`;
    const endRe = new RegExp(`^fwq-${n}-end-(\\d+)$`);
    const collected: string[] = [];
    let inside = false;
    const off = this.onLine((l) => {
      if (l === begin) inside = true;
      else if (inside && !endRe.test(l) && !l.startsWith('{')) collected.push(l);
    });
    try {
      this.child.stdin.write(`echo ${begin}; ${cmd}; echo fwq-${n}-end-$?\n`);
      const end = await this.waitForLine((l) => endRe.test(l), `console command "${cmd}"`, timeoutMs, signal);
      return { output: collected, status: Number(endRe.exec(end)![1]) };
    } finally {
      off();
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once QEMU is gone. Safe to call twice. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
