// The test CA must be one Node's default verification accepts, for every name the stand-ins
// are reached by, or the production-rehearsal tests would need verification turned off.

import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { testCertificates } from '../../support/tls';

let server: https.Server;
let port: number;

beforeAll(async () => {
  const { key, cert } = testCertificates();
  server = https.createServer({ key, cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function get(host: string, ca: Buffer | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    // A fresh agent each time: no session or socket carried from one case to the next.
    const agent = new https.Agent({ ...(ca && { ca }) });
    https
      .get({ host, port, path: '/', agent, servername: host === 'localhost' ? host : undefined }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject)
      .on('close', () => agent.destroy());
  });
}

describe('testCertificates', () => {
  test('is made once per process', () => {
    expect(testCertificates()).toBe(testCertificates());
    expect(readFileSync(testCertificates().caFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  test('names localhost, 127.0.0.1 and ::1 in subjectAltName', () => {
    const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName,basicConstraints'], {
      input: testCertificates().cert,
    }).toString();
    expect(text).toMatch(/DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    expect(text).toMatch(/CA:FALSE/);
  });

  test.each(['127.0.0.1', 'localhost'])('Node verifies %s against the CA, with default verification', async (host) => {
    await expect(get(host, readFileSync(testCertificates().caFile))).resolves.toBe('ok');
  });

  test('a child process trusts it through NODE_EXTRA_CA_CERTS, with the default agent', async () => {
    const script = `require('node:https').get('https://127.0.0.1:${port}/', (res) => res.pipe(process.stdout))
      .on('error', (e) => { console.error(e.code); process.exit(1); });`;
    const run = (env: NodeJS.ProcessEnv): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['-e', script], { env }, (error, stdout, stderr) =>
          error ? reject(new Error(stderr.trim())) : resolve(stdout),
        );
      });
    const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
    await expect(run({ ...env, NODE_EXTRA_CA_CERTS: testCertificates().caFile })).resolves.toBe('ok');
    await expect(run(env)).rejects.toThrow('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  test('without the CA the certificate is refused', async () => {
    await expect(get('127.0.0.1', undefined)).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test('a name the certificate lacks is refused', async () => {
    const ca = readFileSync(testCertificates().caFile);
    await expect(
      new Promise((resolve, reject) => {
        const agent = new https.Agent({ ca });
        https
          .get({ host: '127.0.0.1', port, servername: 'datastore.googleapis.com', agent }, resolve)
          .on('error', reject)
          .on('close', () => agent.destroy());
      }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});
