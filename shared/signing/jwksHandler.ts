/**
 * The `jwks` endpoint: the public signing keys, for Locate, the NDT servers and autojoin to
 * verify tokens with. Cacheable for JWKS_MAX_AGE_SECONDS (an hour unless set: verifiers and
 * CDNs keep it), which is why a new key must be published longer than that before it signs.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { methodNotAllowed, sendProblem, unavailable } from '../platform/http';
import type { JwksPublisher } from './jwksPublisher';
import type { Logger } from '../platform/log';
import { OUTCOMES, requestRecorder } from '../platform/outcomes';

const GET_OR_HEAD = methodNotAllowed(['GET', 'HEAD']);
const HEALTH_PATH = '/health';
const HEALTH_BODY = JSON.stringify({ status: 'ok' });

function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

export function createJwksHandler(
  publisher: JwksPublisher,
  log: Logger,
  maxAgeSeconds: number,
  functionName = 'jwks',
): HttpFunction {
  const cacheControl = `public, max-age=${maxAgeSeconds}, must-revalidate`;
  return async (req, res) => {
    const record = requestRecorder(log, functionName);
    res.set('Access-Control-Allow-Origin', '*');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, GET_OR_HEAD);
      record(405, 'bad-request');
      return;
    }
    // The load balancer routes the Go service's `GET /health` here (a URL map cannot answer
    // by itself): a liveness answer that needs no signing key.
    if (req.path === HEALTH_PATH) {
      res.status(200).set({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).send(HEALTH_BODY);
      record(OUTCOMES.health.status, 'health');
      return;
    }
    let jwks;
    try {
      jwks = await publisher.current();
    } catch {
      // Its own words and a longer Retry-After than an exchange's: verifiers keep the last set meanwhile.
      sendProblem(res, unavailable('The signing keys are unavailable; try again shortly.', 5));
      record(OUTCOMES.unavailable.status, 'unavailable');
      return;
    }
    res.set({
      'Cache-Control': cacheControl,
      ETag: jwks.etag,
    });
    if (matchesEtag(req.headers['if-none-match'], jwks.etag)) {
      res.status(304).end();
      record(OUTCOMES['not-modified'].status, 'not-modified');
      return;
    }
    // Express answers HEAD with the headers of the GET, Content-Length included, and no body.
    res.status(200).set('Content-Type', 'application/json').send(jwks.body);
    record(OUTCOMES.ok.status, 'ok');
  };
}
