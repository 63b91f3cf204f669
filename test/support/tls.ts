/**
 * A throwaway certificate authority and a server certificate it signed, for the HTTPS
 * stand-ins of Google's front ends (Datastore, Secret Manager). The clients under test verify
 * certificates as they would in production, trusting this CA only (NODE_EXTRA_CA_CERTS for a
 * child process, `ca` for an in-process agent), so a test can never pass by turning
 * verification off.
 *
 * Made once per process with the `openssl` CLI: Node can make keys but not certificates.
 * Jest gives each test file a module registry of its own, so there it is once per file.
 * Only the CA's certificate stays on disk (child processes read it by path); the keys are
 * read and deleted at once.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  /** Path of the CA's certificate (PEM), for NODE_EXTRA_CA_CERTS or `ca: readFileSync(caFile)`. */
  readonly caFile: string;
  /** The server's private key (PEM), for `https.createServer({ key, cert })`. */
  readonly key: string;
  /** The server's certificate (PEM): DNS localhost, IP 127.0.0.1 and ::1. */
  readonly cert: string;
}

// Our own config rather than the system's openssl.cnf, whose defaults vary by distribution.
// Node (OpenSSL 3) wants a CA that says it is one, and a server certificate whose names are
// in subjectAltName (the CN is not looked at).
const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = token-exchange test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

let made: TestCertificates | undefined;

function make(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'test-tls-'));
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  writeFileSync(file('openssl.cnf'), CONFIG);
  // P-256 keys: generated in milliseconds, where RSA takes a noticeable share of a second.
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    '-config',
    file('openssl.cnf'),
    ...newKey,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '7',
    '-extensions',
    'ca',
    '-subj',
    '/CN=token-exchange test CA',
  );
  openssl(
    'req',
    '-new',
    '-config',
    file('openssl.cnf'),
    ...newKey,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '7',
    '-extfile',
    file('openssl.cnf'),
    '-extensions',
    'server',
    '-out',
    file('server.pem'),
  );
  const certificates = {
    caFile: file('ca.pem'),
    key: readFileSync(file('server.key'), 'utf8'),
    cert: readFileSync(file('server.pem'), 'utf8'),
  };
  for (const name of ['openssl.cnf', 'ca.key', 'server.key', 'server.csr', 'server.pem']) unlinkSync(file(name));
  // Outside jest this removes the CA too; jest's sandboxed `process` never sees 'exit', so
  // there one small directory with a public certificate stays behind in the temp dir.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return certificates;
}

/** The process's test CA and server certificate, made on first call. */
export function testCertificates(): TestCertificates {
  made ??= make();
  return made;
}
