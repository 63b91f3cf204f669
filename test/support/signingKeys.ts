import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningAlgorithm } from '../../shared/signing/signingKey';

/** Writes a new private JWK to a temporary file, for SIGNING_KEY_FILE. */
export async function signingKeyFile(alg: SigningAlgorithm): Promise<{ path: string; kid: string }> {
  const jwk = await generateSigningKey(alg);
  const path = join(mkdtempSync(join(tmpdir(), 'signing-key-')), `${alg}.jwk.json`);
  writeFileSync(path, JSON.stringify(jwk), { mode: 0o600 });
  return { path, kid: jwk.kid as string };
}
