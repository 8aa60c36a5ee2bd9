/**
 * The config's `inference` (builder/config/inference.ts): what the build runs and what the
 * virtual router's image and an OpenWrt package carry for each choice.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadCatalog } from '../../builder/catalog/load.js';
import type { DebianTarget, OpenWrtTarget } from '../../builder/catalog/target.js';
import { loadConfig } from '../../builder/config/load.js';
import { buildInitramfs } from '../../builder/debian/initramfs.js';
import { overlayLayers } from '../../builder/pipeline/publish.js';
import { BuildError, UsageError } from '../../builder/errors.js';
import { openwrtSteps } from '../../builder/openwrt/steps.js';
import { debianSteps } from '../../builder/debian/steps.js';
import { CONFFILE_LAYER } from '../../builder/toolkit/conffile.js';
import { inferenceChoices, type Inference } from '../../builder/config/inference.js';
import { toolkitSteps } from '../../builder/toolkit/steps.js';
import { projectPath } from '../../builder/util/paths.js';
import { readNewc } from '../../builder/util/cpio.js';
import { tempDir } from '../helpers/tmp.js';

const sh = promisify(execFile);

test('inference defaults to quickjs; a config may choose kernel or both; anything else is named with the choices', async (t) => {
  const dir = await tempDir(t);
  t.is((await loadConfig({ cwd: dir, env: {} })).inference, 'quickjs');
  await writeFile(path.join(dir, '.fwbuildrc.json'), JSON.stringify({ inference: 'kernel' }));
  t.is((await loadConfig({ cwd: dir, env: {} })).inference, 'kernel');
  await writeFile(path.join(dir, '.fwbuildrc.json'), JSON.stringify({ inference: 'gpu' }));
  const e = await t.throwsAsync(loadConfig({ cwd: dir, env: {} }), { instanceOf: UsageError });
  t.regex(e!.message, /"inference"/);
  for (const c of inferenceChoices) t.true(e!.message.includes(c), `${e!.message} names ${c}`);
});

test('the toolkit steps: the default keeps its make command; the in-kernel model builds make forest, and kernel alone has no model bytecode and a runner without QuickJS', async (t) => {
  const target = (await loadCatalog()).resolve('qemu-armv7') as DebianTarget;
  const by = (i: Inference) => Object.fromEntries(toolkitSteps(target, '1.0', i).map((s) => [s.name, s]));
  const q = by('quickjs');
  t.deepEqual(Object.keys(q), ['bpf', 'runner', 'model']);
  t.regex(q['bpf']!.cmd.at(-1)!, /^BPF_TARGET=bpfel$/, 'no goal: make all, as before the key existed');
  t.deepEqual(toolkitSteps(target, '1.0').map((s) => s.cmd), Object.values(q).map((s) => s.cmd));
  t.true(q['runner']!.cmd.includes('QUICKJS_SRC=/deps/quickjs') && q['runner']!.reads.includes('quickjs'));
  const k = by('kernel');
  t.deepEqual(Object.keys(k), ['bpf', 'runner']);
  t.is(k['bpf']!.cmd.at(-1), 'forest');
  // the in-kernel model alone: a runner without QuickJS, whose step neither mounts nor hashes its source
  t.true(k['runner']!.cmd.includes('QUICKJS=0'));
  t.false(k['runner']!.cmd.some((a) => a.startsWith('QUICKJS_SRC=')));
  t.deepEqual(k['runner']!.reads, ['runner', 'bpf']);
  const b = by('both');
  t.deepEqual(Object.keys(b), ['bpf', 'runner', 'model']);
  t.is(b['bpf']!.cmd.at(-1), 'forest');
  t.deepEqual(b['runner']!.cmd, q['runner']!.cmd, 'both runs the QuickJS model: the same runner as the default');
});

/** Step outputs as the image step finds them, with placeholder files. */
async function stepDirs(root: string, object: string): Promise<Record<string, string>> {
  const put = async (rel: string, data: string): Promise<void> => {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), data);
  };
  await put(`bpf/bpf/${object}`, 'BPF');
  await put('runner/bin/fwrunner', 'ELF');
  await put('model/model/model.qbc', 'QBC');
  await put('userland/userland/busybox', 'BB');
  await put('userland/userland/busybox.links', '/bin/sh\n');
  await mkdir(path.join(root, 'kernel', 'kernel', 'modules'), { recursive: true });
  return Object.fromEntries(['bpf', 'runner', 'model', 'userland', 'kernel'].map((s) => [s, path.join(root, s)]));
}

test('the virtual router\'s image carries the chosen object and model, and its UCI settings name them', async (t) => {
  const target = (await loadCatalog()).resolve('qemu-armv7');
  const overlays = await overlayLayers(target);
  const shipped = await readFile(projectPath('overlays', 'common', 'etc', 'config', 'fwrunner'), 'utf8');
  const image = async (inference: Inference, object: string) => {
    // the Debian provider's steps: the conffile step's layer goes over the target's layers
    const steps = debianSteps(target as DebianTarget, '1.0', inference);
    const layers = [...overlays];
    for (const c of steps.filter((x) => x.name === 'conffile')) {
      const out = await tempDir(t);
      await c.host!({ out, after: {}, overlays, sourceDateEpoch: 1700000000 });
      layers.push(path.join(out, CONFFILE_LAYER));
    }
    t.is(steps.find((x) => x.name === 'image')!.after!.includes('conffile'), inference !== 'quickjs');
    const files = readNewc(await buildInitramfs(target, { steps: await stepDirs(await tempDir(t), object), overlays: layers, mtime: 1700000000, inference }));
    return { paths: files.map((f) => f.path), uci: files.find((f) => f.path === 'etc/config/fwrunner')!.data.toString('utf8') };
  };
  const q = await image('quickjs', 'fw_flows.bpf.o');
  t.true(q.paths.includes('usr/lib/fwrunner/fw_flows.bpf.o') && q.paths.includes('usr/share/fwrunner/model.qbc'));
  t.is(q.uci, shipped, 'the default image\'s settings are the overlay\'s, byte for byte');

  const k = await image('kernel', 'fw_flows_forest.bpf.o');
  t.true(k.paths.includes('usr/lib/fwrunner/fw_flows_forest.bpf.o'));
  t.false(k.paths.some((p) => p === 'usr/lib/fwrunner/fw_flows.bpf.o' || p.endsWith('model.qbc')), 'only what the choice needs');
  t.regex(k.uci, /^\toption object '\/usr\/lib\/fwrunner\/fw_flows_forest\.bpf\.o'$/m);
  t.regex(k.uci, /^\toption model 'none'$/m);

  const b = await image('both', 'fw_flows_forest.bpf.o');
  t.true(b.paths.includes('usr/lib/fwrunner/fw_flows_forest.bpf.o') && b.paths.includes('usr/share/fwrunner/model.qbc'));
  t.regex(b.uci, /^\toption model '\/usr\/share\/fwrunner\/model\.qbc'$/m);
});

test('an OpenWrt target builds the in-kernel model: the twin builds make forest, the package waits for no model, and the image step lays the conffile step\'s layer over the overlays', async (t) => {
  const catalog = await loadCatalog();
  const target = catalog.resolve('ath79') as OpenWrtTarget;
  const twin = catalog.resolve(target.twin!) as DebianTarget;
  const spec = { profile: 'tplink_archer-c7-v2', packages: [], format: 'ipk' as const };
  const byName = (inference: Inference) => Object.fromEntries(openwrtSteps(target, twin, '1.0', { ...spec, inference }).map((s) => [s.name, s]));
  const quickjs = byName('quickjs');
  const kernel = byName('kernel');
  // no twin runner: it only writes model bytecode; the SDK builds the router's runner without QuickJS
  t.deepEqual(Object.keys(kernel), ['bpf', 'conffile', 'sdk-runner', 'package', 'image']);
  t.deepEqual(Object.keys(quickjs), ['bpf', 'runner', 'model', 'sdk-runner', 'package', 'image']);
  const sdkMake = (s: Record<string, { cmd: string[] }>) => s['sdk-runner']!.cmd[2]!.split('\n').find((l) => l.startsWith('make '))!;
  t.regex(sdkMake(kernel), / QUICKJS=0 /);
  t.notRegex(sdkMake(kernel), /QUICKJS_SRC/);
  t.regex(sdkMake(quickjs), / QUICKJS_SRC=\/deps\/quickjs /);
  t.deepEqual(kernel['sdk-runner']!.reads, ['runner', 'bpf']);
  t.deepEqual(kernel.bpf!.cmd.slice(-1), ['forest']);
  t.deepEqual(kernel.package!.after, ['sdk-runner', 'bpf']);
  t.deepEqual(byName('both').package!.after, ['sdk-runner', 'bpf', 'model']);
  t.deepEqual(kernel.image!.after, ['package', 'conffile']);
  // the default's steps are as before: no conffile step, nothing laid over the overlays
  t.false('conffile' in quickjs);
  t.deepEqual(quickjs.image!.after, ['package']);
  t.false(quickjs.image!.cmd.join('\n').includes('/in/conffile'));

  // the image step copies the layer after the target's own layers, so it wins
  const script = kernel.image!.cmd[2]!.split('\n');
  const layerCopy = script.findIndex((l) => l.includes('/in/conffile/overlay/. /tmp/files/'));
  const lastLayer = Math.max(...script.map((l, i) => (l.includes('/src/overlays/') ? i : -1)));
  t.true(lastLayer >= 0 && layerCopy > lastLayer, script.join('\n'));

  // the layer, from the OpenWrt target's own overlay layers
  const out = await tempDir(t);
  const overlays = await overlayLayers(target);
  await kernel.conffile!.host!({ out, after: {}, overlays, sourceDateEpoch: 1700000000 });
  const uci = await readFile(path.join(out, CONFFILE_LAYER, 'etc', 'config', 'fwrunner'), 'utf8');
  t.regex(uci, /^\toption object '\/usr\/lib\/fwrunner\/fw_flows_forest\.bpf\.o'$/m);
  t.regex(uci, /^\toption model 'none'$/m);
  // the rest of the shipped file is unchanged
  const shipped = await readFile(projectPath('overlays', 'common', 'etc', 'config', 'fwrunner'), 'utf8');
  t.is(uci.split('\n').filter((l) => !/option (object|model) /.test(l)).join('\n'), shipped.split('\n').filter((l) => !/option (object|model) /.test(l)).join('\n'));

  // a later layer whose conffile lacks the option: the step fails and names the file and the line
  const bad = await tempDir(t);
  await mkdir(path.join(bad, 'etc', 'config'), { recursive: true });
  await writeFile(path.join(bad, 'etc', 'config', 'fwrunner'), "config fwrunner 'main'\n\toption window '10'\n");
  const e = await t.throwsAsync(kernel.conffile!.host!({ out: await tempDir(t), after: {}, overlays: [...overlays, bad], sourceDateEpoch: 1700000000 }), { instanceOf: BuildError });
  t.regex(e!.message, new RegExp(`overlays/${path.basename(bad)}/etc/config/fwrunner has no "option object" line`));
  // and no layer with a conffile at all
  const none = await t.throwsAsync(kernel.conffile!.host!({ out: await tempDir(t), after: {}, overlays: [await tempDir(t)], sourceDateEpoch: 1700000000 }), { instanceOf: BuildError });
  t.regex(none!.message, /has etc\/config\/fwrunner: the runner would not know the object and model of inference "kernel"/);
});
