/**
 * Certificates for one lab run, made by openssl: a CA of its own, and a server certificate it
 * signs for the media server's addresses. Chromium is told to trust the CA by its public key
 * (--ignore-certificate-errors-spki-list), so no certificate store is touched.
 */
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LabTls {
  key: string;
  cert: string;
  /** base64 SHA-256 of the CA's SubjectPublicKeyInfo, for Chromium's SPKI list */
  caSpki: string;
}

export async function makeLabTls(dir: string, addresses: string[]): Promise<LabTls> {
  const f = (n: string) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=fwbuild lab CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  await run('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=fwbuild lab']);
  await writeFile(f('server.ext'), `subjectAltName=${addresses.map((a) => `IP:${a}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext')]);
  const ca = new X509Certificate(await readFile(f('ca.crt')));
  const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
  // the chain, leaf first, so the browser is shown the CA it is told to trust
  await writeFile(f('chain.crt'), Buffer.concat([await readFile(f('server.crt')), await readFile(f('ca.crt'))]));
  return { key: f('server.key'), cert: f('chain.crt'), caSpki: createHash('sha256').update(spki).digest('base64') };
}
