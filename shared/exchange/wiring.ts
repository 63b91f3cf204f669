/**
 * An exchange instance's wiring, built from its configuration: the Datastore reads (REST,
 * datastoreRest.ts), the per-instance caches, throttle and bcrypt line, the verifier and the
 * signer, shared by the exchange functions of one process. Configuration is checked at load,
 * so a bad value stops the instance, naming the variable.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';
import type { KeyKind } from '../keys/grammar';
import { KEY_PATHS } from '../keys/entities';
import { loadConfig, type Config } from '../platform/config';
import { installFrameworkGuards } from '../platform/frameworkGuards';
import { stdoutLogger, type Logger } from '../platform/log';
import { signerFor, type SigningOptions } from '../signing/wiring';
import type { TokenSigner } from '../signing/signer';
import { VerifiedSecretCache } from './cache';
import { clientAddress, forwardedForEntries } from './clientAddress';
import { datastoreRest } from './datastoreRest';
import { FairLimit } from './fairLimit';
import { createExchangeHandler } from './handler';
import { lookupReader, type EntityReader, type FlatKeyStore } from './lookup';
import { LastUseRecorder } from './lastUse';
import { GuessThrottle } from './throttle';
import { createKeyVerifier, type KeyVerifier } from './verifier';

installFrameworkGuards();

/**
 * bcrypt compares that may wait for a slot, in all and per client address; past these, 503
 * rather than an ever longer wait. Turns go round the addresses (fairLimit.ts), so the
 * total bounds memory, not an owner's wait: that is one compare per address ahead.
 */
const BCRYPT_QUEUE = 256;
const BCRYPT_QUEUE_PER_ADDRESS = 16;

export interface ExchangeOptions extends SigningOptions {
  /** host:port of a Datastore emulator, instead of DATASTORE_EMULATOR_HOST. */
  readonly datastoreEmulatorHost?: string;
  /** The bcrypt compare (default: bcryptjs); a seam for tests that count compares. */
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  /** Wraps the hot path's Datastore access; a seam for tests that count lookups and queries. */
  readonly keyStore?: (store: EntityReader & FlatKeyStore) => EntityReader & FlatKeyStore;
  /** The clock of the key checks (expiry, the fallback's budget); default: the system's. */
  readonly now?: () => Date;
}

export class ExchangeInstance {
  readonly verifier: KeyVerifier;
  readonly signer: TokenSigner;
  readonly log: Logger;
  readonly lastUse: LastUseRecorder;
  private forwardedForNoted = false;

  constructor(
    readonly config: Config,
    options: ExchangeOptions = {},
  ) {
    this.log = options.log ?? stdoutLogger;
    const direct = lookupReader(
      datastoreRest({
        projectId: config.projectId,
        emulatorHost: options.datastoreEmulatorHost ?? config.datastoreEmulatorHost,
        endpoint: config.datastoreApiEndpoint,
        timeoutMs: config.datastoreTimeoutMs,
      }),
    );
    const store = options.keyStore ? options.keyStore(direct) : direct;
    this.lastUse = new LastUseRecorder(direct, config.lastUsedResolutionSeconds * 1000, this.log);
    this.verifier = createKeyVerifier({
      keys: KEY_PATHS,
      reader: store,
      namespaces: config,
      legacyFallback: config.legacyAutojoinFallback
        ? { store, queriesPerMinute: config.legacyAutojoinFallbackPerMinute }
        : undefined,
      ...(options.now ? { now: options.now } : {}),
      cache: new VerifiedSecretCache(config.verifiedSecretCacheSize),
      throttle: new GuessThrottle({
        maxFailuresPerKey: config.throttleMaxFailures,
        maxFailuresPerAddress: config.throttleAddressMaxFailures,
        windowSeconds: config.throttleWindowSeconds,
      }),
      bcryptLimit: new FairLimit(config.bcryptConcurrency, BCRYPT_QUEUE, BCRYPT_QUEUE_PER_ADDRESS),
      ...(options.compareBcrypt ? { compareBcrypt: options.compareBcrypt } : {}),
    });
    this.signer = signerFor(config, { ...options, log: this.log });
  }

  handler(functionName: string, kind: KeyKind): HttpFunction {
    return createExchangeHandler({
      functionName,
      kind,
      verifier: this.verifier,
      signer: this.signer,
      settings: this.config,
      log: this.log,
      lastUse: this.lastUse,
      clientAddress: (req) => {
        const forwardedFor = req.headers['x-forwarded-for'];
        this.noteFirstForwardedFor(functionName, forwardedFor);
        return clientAddress(forwardedFor, req.socket.remoteAddress, this.config.forwardedForHop);
      },
    });
  }

  /**
   * How many X-Forwarded-For entries the instance's first request carried: a count, never an
   * address. Google documents what its load balancer appends, not what the serverless leg
   * adds, so an operator confirms FORWARDED_FOR_HOP from this line before DNS moves (README,
   * Cutover): a test request through the front door that sent no header of its own shows 2.
   */
  private noteFirstForwardedFor(functionName: string, forwardedFor: string | string[] | undefined): void {
    if (this.forwardedForNoted) return;
    this.forwardedForNoted = true;
    const entries = forwardedForEntries(forwardedFor).length;
    const hop = this.config.forwardedForHop;
    this.log({
      severity: 'INFO',
      message: `first request: ${entries} X-Forwarded-For entries (FORWARDED_FOR_HOP=${hop})`,
      function: functionName,
      forwarded_for_entries: entries,
      forwarded_for_hop: hop,
    });
  }
}

let instance: ExchangeInstance | undefined;

/** functions/<exchange>: the handler, from process.env (a bad variable stops the instance, named). */
export function exchangeFunction(functionName: string, kind: KeyKind): HttpFunction {
  return (instance ??= new ExchangeInstance(loadConfig())).handler(functionName, kind);
}
