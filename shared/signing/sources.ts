/**
 * Where the signing key lives: a file (local stack) or Secret Manager (production).
 *
 * Secret Manager holds one private JWK per secret version. The signers use the version
 * SIGNING_KEY_VERSION names (default `latest`; an alias lets operators stage a new key
 * before it signs); `jwks` publishes every enabled version, newest first, so a key is
 * published before it signs and stays published after it stops.
 *
 * The functions read Secret Manager over its REST API (v1) through googleRest.ts, not its
 * gRPC client library: two GETs need neither gRPC nor google-gax, whose loading was most of
 * a cold start. `…/versions/<v>:access` resolves a number, `latest` or an alias itself; the
 * payload's CRC32C is checked when Secret Manager sends one.
 */
import { readFile } from 'node:fs/promises';
import type { SigningKeyLocation } from '../platform/config';
import { crc32c } from '../platform/crc32c';
import { deadlineIn, type GoogleApi, type GoogleFailure } from '../platform/googleRest';

/** At most this many versions are published, so an old key cannot linger for ever. */
export const MAX_PUBLISHED_VERSIONS = 5;

/**
 * Each Secret Manager call's deadline, token included. A failure is retried by the next
 * request (the signer) or the next refresh (jwks), never waited out here.
 */
const CALL_MS = 5000;
/** Pages of the version list followed at most (MAX_PUBLISHED_VERSIONS are newest first on the first). */
const MAX_PAGES = 20;

export interface SigningKeySource {
  /** The private JWK that signs, as JSON text. */
  signingKey(): Promise<string>;
  /** The private JWKs of the versions to publish, newest first, with their version names. */
  publishedKeys(): Promise<Array<{ version: string; jwk: string }>>;
}

function fileSource(path: string): SigningKeySource {
  return {
    signingKey: () => readFile(path, 'utf8'),
    publishedKeys: async () => [{ version: path, jwk: await readFile(path, 'utf8') }],
  };
}

/** A refused or failed Secret Manager call: what failed and Google's status, nothing it said. */
export class SecretManagerError extends Error {
  override readonly name = 'SecretManagerError';
  constructor(
    what: string,
    readonly failure: GoogleFailure,
  ) {
    const reasons = failure.reasons.length > 0 ? ` [${failure.reasons.join(', ')}]` : '';
    super(`Secret Manager ${what}: ${failure.status}${reasons} (${failure.message})`);
  }
}

interface AccessResponse {
  readonly name?: unknown;
  readonly payload?: { readonly data?: unknown; readonly dataCrc32c?: unknown };
}

interface ListResponse {
  readonly versions?: ReadonlyArray<{ readonly name?: unknown; readonly state?: unknown }>;
  readonly nextPageToken?: unknown;
}

function versionNumber(name: string): number {
  return Number(name.slice(name.lastIndexOf('/') + 1)) || 0;
}

function unexpected(what: string, detail: string): SecretManagerError {
  return new SecretManagerError(what, { ok: false, status: 'UNAVAILABLE', message: detail, reasons: [] });
}

/** The payload's text, its CRC32C checked when sent (a corrupted read must not sign). */
function payloadText(what: string, body: AccessResponse): string {
  const data = body.payload?.data;
  if (typeof data !== 'string') throw unexpected(what, 'no payload in the answer');
  const bytes = Buffer.from(data, 'base64');
  const sent = body.payload?.dataCrc32c;
  if (sent !== undefined && sent !== null && Number(sent) !== crc32c(bytes)) {
    throw new SecretManagerError(what, {
      ok: false,
      status: 'DATA_LOSS',
      message: 'payload checksum mismatch',
      reasons: [],
    });
  }
  return bytes.toString('utf8');
}

/** `secret` is `projects/<project>/secrets/<name>`; `version` a number, `latest` or an alias. */
export function secretManagerSource(api: GoogleApi, secret: string, version: string): SigningKeySource {
  const access = async (name: string): Promise<string> => {
    const what = `access to ${name}`;
    const result = await api.call<AccessResponse>('GET', `/v1/${name}:access`, undefined, deadlineIn(CALL_MS));
    if (!result.ok) throw new SecretManagerError(what, result);
    return payloadText(what, result.body);
  };

  async function enabledVersions(): Promise<string[]> {
    const what = `list of ${secret}'s enabled versions`;
    const names: string[] = [];
    let pageToken = '';
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page = pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : '';
      const query = `filter=${encodeURIComponent('state:ENABLED')}${page}`;
      const result = await api.call<ListResponse>(
        'GET',
        `/v1/${secret}/versions?${query}`,
        undefined,
        deadlineIn(CALL_MS),
      );
      if (!result.ok) throw new SecretManagerError(what, result);
      for (const entry of result.body.versions ?? []) {
        // Named with the project number (`projects/123…/secrets/…`): accessed by that name.
        if (typeof entry.name === 'string' && entry.name !== '') names.push(entry.name);
      }
      const next = result.body.nextPageToken;
      if (typeof next !== 'string' || next === '') return names;
      pageToken = next;
    }
    throw unexpected(what, `more than ${MAX_PAGES} pages`);
  }

  return {
    signingKey: () => access(`${secret}/versions/${version}`),
    async publishedKeys() {
      const newest = (await enabledVersions())
        .sort((a, b) => versionNumber(b) - versionNumber(a))
        .slice(0, MAX_PUBLISHED_VERSIONS);
      return Promise.all(newest.map(async (name) => ({ version: name, jwk: await access(name) })));
    },
  };
}

export function signingKeySource(location: SigningKeyLocation, secretManager: () => GoogleApi): SigningKeySource {
  if (location.source === 'file') return fileSource(location.path);
  return secretManagerSource(secretManager(), location.secret, location.version);
}
