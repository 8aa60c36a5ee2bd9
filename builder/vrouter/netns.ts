import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { maxBuffer: 16 << 20 });
  return stdout;
}

export const inNs = (ns: string, cmd: string, args: string[]): Promise<string> => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

/** A network namespace that owns what is created in it: deleting it removes its links too. */
export class Netns {
  private constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    await sh('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  ip(...args: string[]): Promise<string> {
    return sh('ip', ['-n', this.name, ...args]);
  }

  exec(cmd: string, args: string[]): Promise<string> {
    return inNs(this.name, cmd, args);
  }

  /** Every namespace whose name starts with `prefix` (what a crashed run left behind). */
  static async list(prefix: string): Promise<string[]> {
    const out = await sh('ip', ['netns', 'list']).catch(() => '');
    return out
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(prefix));
  }

  async remove(): Promise<void> {
    await sh('ip', ['netns', 'del', this.name]).catch(() => '');
  }
}
