/**
 * One instance's wiring, built from the environment on first use and shared by every
 * function in the process: the configuration (checked at load, so a bad value stops the
 * instance), the Datastore client, the per-instance caches, the signer and the JWKS.
 * Each piece is built only when a function needs it: `jwks` never opens Datastore.
 */
import { Datastore } from '@google-cloud/datastore';
import { grpc } from 'google-gax';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { HttpFunction } from '@google-cloud/functions-framework';
import type { KeyKind } from '../keys/grammar';
import { clientAddress } from './clientAddress';
import { loadConfig, type Config } from '../platform/config';
import { createExchangeHandler } from './handler';
import { GuessThrottle } from './throttle';
import { FairLimit } from './fairLimit';
import { installFrameworkGuards } from '../platform/frameworkGuards';
import { createJwksHandler } from '../signing/jwksHandler';
import { JwksPublisher } from '../signing/jwksPublisher';
import { createLookupClient, lookupReader, type EntityReader, type FlatKeyStore } from './lookup';
import { createKeyVerifier, type KeyVerifier } from './verifier';
import { stdoutLogger, type Logger } from '../platform/log';
import { signingKeySource, type SigningKeySource } from '../signing/sources';
import { TokenSigner } from '../signing/signer';
import { VerifiedSecretCache } from './cache';

installFrameworkGuards();

/** The Datastore client (for keys and writes), on `emulatorHost` (default DATASTORE_EMULATOR_HOST) when given. */
export function createDatastore(config: Pick<Config, 'projectId'>, emulatorHost = process.env.DATASTORE_EMULATOR_HOST): Datastore {
  return new Datastore({
    ...(config.projectId ? { projectId: config.projectId } : {}),
    // An emulator needs no credentials; universeDomain skips looking for them, which probed
    // the metadata server and printed a MetadataLookupWarning on every npm start.
    ...(emulatorHost ? { apiEndpoint: emulatorHost, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' } : {}),
  });
}

/**
 * bcrypt compares that may wait for a slot, in all and per client address; past these, 503
 * rather than an ever longer wait. Turns go round the addresses (fairLimit.ts), so the
 * total bounds memory, not an owner's wait: that is one compare per address ahead.
 */
const BCRYPT_QUEUE = 256;
const BCRYPT_QUEUE_PER_ADDRESS = 16;

export interface RuntimeOptions {
  /** Where log entries go (default: JSON lines on stdout). */
  readonly log?: Logger;
  /** host:port of a Datastore emulator, instead of DATASTORE_EMULATOR_HOST. */
  readonly datastoreEmulatorHost?: string;
  /** Makes the Secret Manager client (default: from the environment). */
  readonly secretManager?: () => SecretManagerServiceClient;
  /** The bcrypt compare (default: bcryptjs); a seam for tests that count compares. */
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  /** Wraps the hot path's Datastore access; a seam for tests that count lookups and queries. */
  readonly keyStore?: (store: EntityReader & FlatKeyStore) => EntityReader & FlatKeyStore;
  /** The clock of the key checks (expiry, the fallback's budget); default: the system's. */
  readonly now?: () => Date;
}

export class Runtime {
  private datastoreClient?: Datastore;
  private keyVerifier?: KeyVerifier;
  private keySource?: SigningKeySource;
  private tokenSigner?: TokenSigner;
  private publisher?: JwksPublisher;

  readonly log: Logger;

  constructor(
    readonly config: Config,
    private readonly options: RuntimeOptions = {},
  ) {
    this.log = options.log ?? stdoutLogger;
  }

  get datastore(): Datastore {
    return (this.datastoreClient ??= createDatastore(this.config, this.options.datastoreEmulatorHost));
  }

  get verifier(): KeyVerifier {
    if (this.keyVerifier !== undefined) return this.keyVerifier;
    const direct = lookupReader(
      createLookupClient(this.config, this.options.datastoreEmulatorHost ?? this.config.datastoreEmulatorHost),
      this.config.datastoreTimeoutMs,
    );
    const store = this.options.keyStore ? this.options.keyStore(direct) : direct;
    return (this.keyVerifier = createKeyVerifier({
      datastore: this.datastore,
      reader: store,
      namespaces: this.config,
      legacyFallback: this.config.legacyAutojoinFallback ? { store, queriesPerMinute: this.config.legacyAutojoinFallbackPerMinute } : undefined,
      ...(this.options.now ? { now: this.options.now } : {}),
      cache: new VerifiedSecretCache(this.config.verifiedSecretCacheSize),
      throttle: new GuessThrottle({
        maxFailuresPerKey: this.config.throttleMaxFailures,
        maxFailuresPerAddress: this.config.throttleAddressMaxFailures,
        windowSeconds: this.config.throttleWindowSeconds,
      }),
      bcryptLimit: new FairLimit(this.config.bcryptConcurrency, BCRYPT_QUEUE, BCRYPT_QUEUE_PER_ADDRESS),
      ...(this.options.compareBcrypt ? { compareBcrypt: this.options.compareBcrypt } : {}),
    }));
  }

  private get source(): SigningKeySource {
    return (this.keySource ??= signingKeySource(this.config.signingKey, this.options.secretManager));
  }

  get signer(): TokenSigner {
    if (this.tokenSigner === undefined) {
      this.tokenSigner = TokenSigner.fromSource(this.source, {
        refreshMs: this.config.signingKeyRefreshSeconds * 1000,
        onRefreshError: (error) =>
          this.log({ severity: 'ERROR', message: `cannot re-read the signing key; still signing with the one in hand: ${error.message}` }),
      });
      // Cold start: begin reading the key now; a failure is retried by the first request.
      this.tokenSigner.key().catch((error: Error) => {
        this.log({ severity: 'ERROR', message: `cannot load the signing key: ${error.message}` });
      });
    }
    return this.tokenSigner;
  }

  get jwks(): JwksPublisher {
    return (this.publisher ??= new JwksPublisher(this.source, this.config.jwksRefreshSeconds * 1000, this.log));
  }

  exchangeHandler(functionName: string, kind: KeyKind): HttpFunction {
    return createExchangeHandler({
      functionName,
      kind,
      verifier: this.verifier,
      signer: this.signer,
      settings: this.config,
      log: this.log,
      clientAddress: (req) => clientAddress(req.headers['x-forwarded-for'], req.socket.remoteAddress, this.config.forwardedForHop),
    });
  }

  jwksHandler(functionName = 'jwks'): HttpFunction {
    return createJwksHandler(this.jwks, this.log, functionName);
  }
}

let instance: Runtime | undefined;

/** The process's runtime, from process.env; throws a ConfigError naming a bad variable. */
export function runtime(): Runtime {
  return (instance ??= new Runtime(loadConfig()));
}
