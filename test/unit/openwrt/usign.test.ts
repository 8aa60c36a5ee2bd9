import test from 'ava';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BuildError } from '../../../builder/errors.js';
import { parseUsignKey, verifyUsign } from '../../../builder/openwrt/usign.js';
import { projectPath } from '../../../builder/util/paths.js';

/** A usign key pair made here, in usign's own file format, as `usign -G` writes it. */
function usignPair(keyIdHex: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const id = Buffer.from(keyIdHex, 'hex');
  const pubText = `untrusted comment: test key ${keyIdHex}\n${Buffer.concat([Buffer.from('Ed'), id, pub]).toString('base64')}\n`;
  const signText = (data: Buffer) =>
    `untrusted comment: signed by key ${keyIdHex}\n${Buffer.concat([Buffer.from('Ed'), id, sign(null, data, privateKey)]).toString('base64')}\n`;
  return { pubText, signText };
}

const sums = Buffer.from('8fda670a73d59fd0632970f4b5c1b8063203a908e13131a1f7cf44dd71a5b30a *openwrt-sdk.tar.zst\n');

test('every OpenWrt release key kept in targets/openwrt-keys/usign.json parses, and its key id matches', async (t) => {
  const doc = JSON.parse(await readFile(projectPath('targets', 'openwrt-keys', 'usign.json'), 'utf8')) as { usign: { keyId: string; key: string }[] };
  t.true(doc.usign.length >= 7);
  for (const k of doc.usign) t.is(parseUsignKey(k.key).keyId, k.keyId);
  t.true(doc.usign.some((k) => k.keyId === 'd310c6f2833e97f7'), 'the 24.10 release key');
  t.true(doc.usign.some((k) => k.keyId === '682970064b87a917'), 'the 23.05 release key');
  t.true(doc.usign.some((k) => k.keyId === 'b5043e70f9a75cde'), 'the snapshot key, which also signs 25.12');
});

test('a signature by a trusted key verifies; an altered file or another key is refused by name', (t) => {
  const good = usignPair('0123456789abcdef');
  const other = usignPair('fedcba9876543210');
  const keyring = [parseUsignKey(good.pubText)];
  t.is(verifyUsign(sums, good.signText(sums), keyring, 'sha256sums').keyId, '0123456789abcdef');
  const tampered = Buffer.from(sums.toString().replace('8fda', '0fda'));
  const e1 = t.throws(() => verifyUsign(tampered, good.signText(sums), keyring, 'sha256sums'), { instanceOf: BuildError });
  t.is(e1.message, 'sha256sums: the usign signature by key 0123456789abcdef does not match its contents (tampered or damaged)');
  const e2 = t.throws(() => verifyUsign(sums, other.signText(sums), keyring, 'sha256sums'), { instanceOf: BuildError });
  t.regex(e2.message, /signed with usign key fedcba9876543210, which is not a trusted key \(trusted: 0123456789abcdef\)/);
  t.throws(() => verifyUsign(sums, 'untrusted comment: x\nbm90IGEgc2lnbmF0dXJl\n', keyring, 'sha256sums'), { message: /not a usign signature/ });
});
