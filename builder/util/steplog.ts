import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** One step's full log on disk (`build/logs/<target>/<step>.log`), with the tail kept for errors. */
export class StepLog {
  private stream?: WriteStream;

  constructor(readonly file: string) {}

  static async open(logDir: string, scope: string, step: string): Promise<StepLog> {
    const log = new StepLog(path.join(logDir, scope, `${step}.log`));
    await mkdir(path.dirname(log.file), { recursive: true });
    log.stream = createWriteStream(log.file, { flags: 'w' });
    return log;
  }

  /** Runs `fn` with the step's log open, and closes the log whatever happens. */
  static async with<T>(logDir: string, scope: string, step: string, fn: (log: StepLog) => Promise<T>): Promise<T> {
    const log = await StepLog.open(logDir, scope, step);
    try {
      return await fn(log);
    } finally {
      await log.close();
    }
  }

  write(text: string | Buffer): void {
    this.stream?.write(text);
  }

  line(text: string): void {
    this.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  async close(): Promise<void> {
    const s = this.stream;
    if (!s) return;
    this.stream = undefined;
    await new Promise<void>((resolve) => s.end(resolve));
  }

  /** The last lines, to show beside a failure. */
  async tail(lines = 15): Promise<string> {
    await this.close();
    const text = await readFile(this.file, 'utf8').catch(() => '');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }
}
