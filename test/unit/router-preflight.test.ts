import test from 'ava';
import { Catalog, loadCatalog } from '../../builder/catalog/load.js';
import type { DebianTarget } from '../../builder/catalog/target.js';
import { loadConfig } from '../../builder/config/load.js';
import { UsageError } from '../../builder/errors.js';
import { testRouter } from '../../builder/vrouter/router-test.js';
import { tempDir } from '../helpers/tmp.js';

test('fwbuild test names a missing qemu-system binary and its Debian package before building anything', async (t) => {
  const good = (await loadCatalog()).resolve('qemu-armv7') as DebianTarget;
  const catalog = new Catalog([{ ...good, qemu: { ...good.qemu, system: 'qemu-system-armnosuch' } }]);
  const dir = await tempDir(t);
  const config = await loadConfig({ cwd: dir, env: {} });
  const e = await t.throwsAsync(testRouter(config, catalog, 'qemu-armv7'), { instanceOf: UsageError });
  t.is(e.message, 'qemu-system-armnosuch is not installed');
  t.is(e.hint, 'apt-get install -y qemu-system-arm');
});
