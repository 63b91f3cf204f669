/**
 * The exchange endpoint, shared by exchangeIntegration and exchangeAutojoin: POST an API
 * key, get a short-lived JWT. It depends only on something that verifies a key and
 * something that signs claims, so tests can hand it either directly.
 */
import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import { KINDS, type KeyKind } from '../keys/kinds';
import { claimsFor, tokenTtl, type TokenSettings } from './claims';
import { methodNotAllowed, readApiKey, readBody, sendProblem } from '../platform/http';
import { OUTCOMES, requestRecorder } from '../platform/outcomes';
import { refusalProblem } from './outcomes';
import type { KeyVerifier, VerifiedKey } from './verifier';
import type { Logger } from '../platform/log';
import type { ClaimsSigner } from '../signing/signer';

export interface ExchangeHandlerOptions {
  /** The function's name, for logs. */
  readonly functionName: string;
  readonly kind: KeyKind;
  readonly verifier: KeyVerifier;
  readonly signer: ClaimsSigner;
  readonly settings: TokenSettings;
  readonly log: Logger;
  /** The client address bcrypt guesses are counted by (clientAddress.ts). */
  readonly clientAddress: (req: Request) => string;
  /** Told of each key that got a token, once the answer is sent (lastUse.ts). */
  readonly lastUse?: { record(key: VerifiedKey, functionName: string): void };
}

const POST_ONLY = methodNotAllowed(['POST']);

export function createExchangeHandler(options: ExchangeHandlerOptions): HttpFunction {
  const { functionName, kind, verifier, signer, settings, log, clientAddress, lastUse } = options;

  return async (req, res) => {
    const record = requestRecorder(log, functionName);
    const owner = KINDS[kind].ownerField;

    if (req.method !== 'POST') {
      sendProblem(res, POST_ONLY);
      record(405, 'bad-request', { method: req.method.slice(0, 16) });
      return;
    }
    const body = await readBody(req);
    if (!body.ok) {
      sendProblem(res, body.problem);
      record(body.problem.status, 'bad-request');
      return;
    }
    const read = readApiKey(req, body.body);
    if (!read.ok) {
      sendProblem(res, read.problem);
      record(read.problem.status, 'bad-request');
      return;
    }

    const result = await verifier.verify(read.apiKey, kind, clientAddress(req));
    if (!result.ok) {
      const problem = refusalProblem(result);
      sendProblem(res, problem);
      record(problem.status, result.outcome, {
        [owner]: result.ownerId,
        key_id: result.keyId,
        reason:
          result.outcome === 'invalid' ? result.reason : result.outcome === 'unavailable' ? result.cause : undefined,
      });
      return;
    }

    const who = { [owner]: result.key.ownerId, key_id: result.key.keyId };
    let token: string;
    try {
      token = await signer.sign(claimsFor(result.key, settings));
    } catch (error) {
      sendProblem(res, OUTCOMES['signing-unavailable'].problem());
      const reason = (error as Error).message;
      record(OUTCOMES['signing-unavailable'].status, 'signing-unavailable', { ...who, reason });
      return;
    }
    res.status(200).set({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    res.send(JSON.stringify({ token, token_type: 'Bearer', expires_in: tokenTtl(kind, settings) }));
    record(OUTCOMES.ok.status, 'ok', { ...who, ...(KINDS[kind].hasTier ? { tier: result.key.tier } : {}) });
    lastUse?.record(result.key, functionName);
  };
}
