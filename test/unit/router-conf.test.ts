import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../../builder/errors.js';
import { readRouterConf } from '../../builder/debian/router-conf.js';
import { projectPath } from '../../builder/util/paths.js';
import { tempDir } from '../helpers/tmp.js';

test("the shipped router.conf: the ports' MACs, addresses, subnets and where fwbuild test puts its peers", async (t) => {
  const p = await readRouterConf(projectPath('overlays', 'debian'));
  t.deepEqual(p.lan, {
    mac: '52:54:00:fb:00:01',
    ipv4: { address: '192.168.1.1', prefix: 24 },
    ipv6: { address: 'fd00:fb:1::1', prefix: 64 },
    peer: { ipv4: '192.168.1.2', ipv6: 'fd00:fb:1::2' },
    subnet: { ipv4: '192.168.1.0/24', ipv6: 'fd00:fb:1::/64' },
  });
  t.deepEqual(p.wan.subnet, { ipv4: '192.0.2.0/24', ipv6: '2001:db8:fb::/64' });
});

test('other prefixes and addresses give the right subnet and peer; a bad or missing value is named', async (t) => {
  const dir = await tempDir(t);
  const conf = path.join(dir, 'etc', 'fwbuild', 'router.conf');
  await mkdir(path.dirname(conf), { recursive: true });
  const write = (lan4: string, lan6: string) =>
    writeFile(conf, `LAN_MAC=52:54:00:AA:00:01\nLAN_IPV4=${lan4}\nLAN_IPV6=${lan6}\nWAN_MAC=52:54:00:aa:00:02\nWAN_IPV4=10.9.0.1/16\nWAN_IPV6=2001:db8:0:7:1::1/80\n`);
  await write('10.1.2.129/25', 'fd12:3456:789a:1::10/64');
  const p = await readRouterConf(dir);
  t.is(p.lan.mac, '52:54:00:aa:00:01');
  t.deepEqual(p.lan.subnet, { ipv4: '10.1.2.128/25', ipv6: 'fd12:3456:789a:1::/64' });
  t.deepEqual(p.lan.peer, { ipv4: '10.1.2.130', ipv6: 'fd12:3456:789a:1::2' });
  t.deepEqual(p.wan.subnet, { ipv4: '10.9.0.0/16', ipv6: '2001:db8:0:7:1::/80' });
  await write('10.1.2.129', 'fd12::1/64');
  await t.throwsAsync(readRouterConf(dir), { instanceOf: BuildError, message: /LAN_IPV4="10\.1\.2\.129" is not ADDRESS\/PREFIX/ });
  await t.throwsAsync(readRouterConf(path.join(dir, 'none')), { instanceOf: BuildError, message: /router\.conf is missing/ });
});
