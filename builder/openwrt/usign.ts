import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { BuildError } from '../errors.js';

/**
 * usign, OpenWrt's signify-like tool: a key or signature file is a comment line and a base64
 * line of "Ed" | key id (8 bytes) | ed25519 public key (32) or signature (64).
 */
export interface UsignKey {
  keyId: string;
  key: KeyObject;
  comment: string;
}

function payload(text: string, size: number, what: string): { keyId: string; body: Buffer; comment: string } {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const b64 = lines.find((l) => !l.startsWith('untrusted comment:'));
  const raw = b64 ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
  if (raw.length !== 2 + 8 + size || raw.toString('latin1', 0, 2) !== 'Ed') {
    throw new BuildError(`not a usign ${what}: expected base64 of "Ed", an 8-byte key id and ${size} bytes, got ${raw.length} bytes`);
  }
  return { keyId: raw.subarray(2, 10).toString('hex'), body: raw.subarray(10), comment: lines[0]?.replace(/^untrusted comment:\s*/, '') ?? '' };
}

/** A public key from its file text or its base64 line alone (as the key list carries it). */
export function parseUsignKey(text: string): UsignKey {
  const { keyId, body, comment } = payload(text, 32, 'public key');
  return { keyId, comment, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: body.toString('base64url') }, format: 'jwk' }) };
}

/**
 * Checks `data` against a usign signature with a trusted key. Fails naming the key id when the
 * signer is not in the keyring, and when the signature does not match the data.
 */
export function verifyUsign(data: Buffer, signatureText: string, keyring: readonly UsignKey[], what: string): UsignKey {
  const sig = payload(signatureText, 64, 'signature');
  const key = keyring.find((k) => k.keyId === sig.keyId);
  if (!key) {
    throw new BuildError(
      `${what} is signed with usign key ${sig.keyId}, which is not a trusted key (trusted: ${keyring.map((k) => k.keyId).join(', ') || 'none'})`,
      `if it is an OpenWrt key (keyring.git's usign/${sig.keyId}), add its base64 line to "openwrt.keys" in the config, or to targets/openwrt-keys/usign.json for everyone`,
    );
  }
  if (!verify(null, data, key.key, sig.body)) {
    throw new BuildError(`${what}: the usign signature by key ${sig.keyId} does not match its contents (tampered or damaged)`);
  }
  return key;
}
