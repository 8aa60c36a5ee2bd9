import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BuildError, UsageError } from '../errors.js';

/** A gpg fingerprint as compared: 40 hex digits, upper case, no spaces. */
export const normaliseFingerprint = (f: string): string => f.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();

export interface GpgTrust {
  /** a keyring file (`gpg --export` output) holding the public keys */
  keyring: string;
  /** the fingerprints a signature must come from */
  fingerprints: readonly string[];
}

/**
 * Checks a detached armored signature (`sha256sums.asc`) with Debian's gpgv against `keyring`,
 * and requires the signing key's fingerprint to be a trusted one: a key that merely sits in the
 * keyring is not enough. Returns that fingerprint.
 */
export async function verifyGpg(data: Buffer, asc: string, trust: GpgTrust, what: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fwbuild-gpgv-'));
  try {
    await writeFile(path.join(dir, 'data'), data);
    await writeFile(path.join(dir, 'data.asc'), asc);
    const status = await new Promise<string>((resolve, reject) => {
      // status lines on stdout; gpgv exits non-zero on a bad or unverifiable signature
      execFile('gpgv', ['--status-fd', '1', '--keyring', path.resolve(trust.keyring), path.join(dir, 'data.asc'), path.join(dir, 'data')], (e, stdout, stderr) => {
        if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new BuildError('gpgv is not installed: it checks sha256sums.asc', 'apt-get install -y gpgv'));
        } else resolve(`${stdout}\n${stderr}`);
      });
    });
    // VALIDSIG <signing key fpr> <date> <time> <expires> <version> <reserved> <algo> <hash> <class> <primary key fpr>
    const valid = /^\[GNUPG:\] VALIDSIG (.*)$/m.exec(status)?.[1]?.split(' ');
    if (!valid) {
      const missing = /^\[GNUPG:\] NO_PUBKEY ([0-9A-F]+)/m.exec(status)?.[1];
      if (missing) {
        throw new BuildError(`${what}.asc is signed by gpg key ${missing}, which is not in ${trust.keyring}`, 'add OpenWrt\'s public key to the keyring (gpg --export KEY > FILE)');
      }
      if (/^\[GNUPG:\] BADSIG /m.test(status)) throw new BuildError(`${what}.asc does not match ${what}: the list or its signature was altered`);
      if (/keyblock resource .*: No such file|can't open/i.test(status)) throw new UsageError(`gpg keyring ${trust.keyring} cannot be read`);
      throw new BuildError(`${what}.asc could not be verified:\n${status.trim().split('\n').slice(-5).join('\n')}`);
    }
    // the signing (sub)key or its primary key may be the one listed as trusted
    const signers = [...new Set([valid[0], valid[9]].filter((x): x is string => !!x && /^[0-9A-F]{40}$/.test(x)))];
    const trusted = new Set(trust.fingerprints.map(normaliseFingerprint));
    const hit = signers.find((f) => trusted.has(f));
    if (!hit) {
      throw new BuildError(`${what}.asc is signed by gpg key ${signers.join(' / ')}, which is not one of the trusted fingerprints`, 'add its fingerprint to openwrt.gpgFingerprints if you trust it');
    }
    return hit;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
