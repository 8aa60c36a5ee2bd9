/**
 * QemuRouter's console reader, with a shell script standing in for QEMU's serial console (the
 * router tests boot real QEMU; here the point is what the reader does with the lines). Needs
 * root: the child starts inside a network namespace, as QEMU does.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BuildError } from '../../builder/errors.js';
import { Netns } from '../../builder/vrouter/netns.js';
import { QemuRouter } from '../../builder/vrouter/qemu-router.js';

async function scriptConsole(t: import('ava').ExecutionContext, script: string): Promise<QemuRouter> {
  const ns = await Netns.create(`fwq-${randomBytes(3).toString('hex')}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-console-'));
  const router = await QemuRouter.start(['sh', '-c', script], { netns: ns.name, consoleLog: path.join(dir, 'console.log') });
  t.teardown(async () => {
    await router.stop();
    await ns.remove();
    await rm(dir, { recursive: true, force: true });
  });
  return router;
}

const ready = (l: string): boolean => l.includes('{"ready":true');
const exited = (l: string): boolean => l.includes('fwrunner: exited with status');

test('a line that says the awaited one will never come fails the wait at once, with the console tail', async (t) => {
  const router = await scriptConsole(t, 'echo booting; sleep 0.3; echo "/ # fwrunner: exited with status 1"; exec sleep 60');
  const started = Date.now();
  const e = await t.throwsAsync(router.waitForLine(ready, 'waiting for the ready line', 30_000, undefined, exited), { instanceOf: BuildError });
  t.regex(e!.message, /^waiting for the ready line: "\/ # fwrunner: exited with status 1"; console log: \S+console\.log\n--- last console lines ---\nbooting\n/);
  t.true(Date.now() - started < 20_000, 'failed on the line, long before the timeout');
  t.regex(await readFile(router.consoleLog, 'utf8'), /booting/);
});

test('the awaited line wins when it comes first; a line already seen counts either way', async (t) => {
  const router = await scriptConsole(t, 'echo \'{"ready":true,"programs":2}\'; echo "fwrunner: exited with status 0"; exec sleep 60');
  t.is(await router.waitForLine(ready, 'ready', 30_000, undefined, exited), '{"ready":true,"programs":2}');
  await router.waitForLine(exited, 'exit line', 30_000);
  // both lines are in the past now: the earlier one decides
  t.is(await router.waitForLine(ready, 'ready', 1_000, undefined, exited), '{"ready":true,"programs":2}');
  await t.throwsAsync(router.waitForLine((l) => l === 'never printed', 'a later line', 30_000, undefined, exited), {
    message: /^a later line: "fwrunner: exited with status 0"/,
  });
});
