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
import type { KeyKind } from './apiKey';
import { ConcurrencyLimit } from './concurrencyLimit';
import { loadConfig, type Config } from './config';
import { createExchangeHandler } from './exchangeHandler';
import { FailureThrottle } from './failureThrottle';
import { installFrameworkGuards } from './frameworkGuards';
import { createJwksHandler } from './jwksHandler';
import { JwksPublisher } from './jwksPublisher';
import { createLookupClient, lookupReader } from './keyStore';
import { createKeyVerifier, type KeyVerifier } from './keyVerifier';
import { stdoutLogger, type Logger } from './log';
import { signingKeySource, type SigningKeySource } from './signingKeySource';
import { TokenSigner } from './tokenSigner';
import { VerifiedSecretCache } from './verifiedSecretCache';

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

/** bcrypt compares that may wait for a slot; past this, 503 rather than an ever longer wait. */
const BCRYPT_QUEUE = 64;

export interface RuntimeOptions {
  /** Where log entries go (default: JSON lines on stdout). */
  readonly log?: Logger;
  /** host:port of a Datastore emulator, instead of DATASTORE_EMULATOR_HOST. */
  readonly datastoreEmulatorHost?: string;
  /** Makes the Secret Manager client (default: from the environment). */
  readonly secretManager?: () => SecretManagerServiceClient;
  /** The bcrypt compare (default: bcryptjs); a seam for tests that count compares. */
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
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
    return (this.keyVerifier ??= createKeyVerifier({
      datastore: this.datastore,
      reader: lookupReader(
        createLookupClient(this.config, this.options.datastoreEmulatorHost ?? process.env.DATASTORE_EMULATOR_HOST),
        this.config.datastoreTimeoutMs,
      ),
      namespaces: this.config,
      cache: new VerifiedSecretCache(this.config.verifiedSecretCacheSize),
      throttle: new FailureThrottle({
        maxFailures: this.config.throttleMaxFailures,
        windowSeconds: this.config.throttleWindowSeconds,
      }),
      bcryptLimit: new ConcurrencyLimit(this.config.bcryptConcurrency, BCRYPT_QUEUE),
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
