/**
 * What a failure of Google's client libraries means to an operator, in one line that says
 * what to do. The libraries speak gRPC: their errors read `14 UNAVAILABLE: No connection
 * established. Last error: …`, which names neither the service, nor the secret, nor the
 * setting to fix. And with no credentials at all, google-auth-library throws "Could not load
 * the default credentials", which says nothing about `gcloud` or the local stack.
 *
 * Each failure is reworded here with what the CLI knows about where it was going: Datastore
 * (its emulator, its project) or Secret Manager (its stand-in, the secret, and whether the
 * secret came from --secret or SIGNING_KEY_SECRET).
 */
import { ExpectedError } from '../../shared/platform/errors';

/** Where a command's calls go. */
export type Destination =
  | {
      readonly service: 'Datastore';
      /** DATASTORE_EMULATOR_HOST, if set. */
      readonly emulatorHost?: string | undefined;
      /** The project named (PROJECT_ID or --project), if any. */
      readonly projectId?: string | undefined;
    }
  | {
      readonly service: 'Secret Manager';
      /** SECRET_MANAGER_EMULATOR_HOST, if set. */
      readonly emulatorHost?: string | undefined;
      /** `projects/<p>/secrets/<name>`, once known. */
      readonly secret?: string | undefined;
      /** Where the secret's name came from. */
      readonly secretSetting: '--secret' | 'SIGNING_KEY_SECRET';
    };

/** A Google service's failure, reworded for the operator. */
export class ServiceError extends ExpectedError {
  override readonly name = 'ServiceError';
  readonly code = 'service-failed';
}

/** gRPC's status codes (google/rpc/code.proto): the name a client library's message opens with, and in words. */
const STATUSES: Readonly<Record<number, readonly [name: string, words: string]>> = {
  1: ['CANCELLED', 'cancelled'],
  2: ['UNKNOWN', 'unknown error'],
  3: ['INVALID_ARGUMENT', 'invalid argument'],
  4: ['DEADLINE_EXCEEDED', 'deadline exceeded'],
  5: ['NOT_FOUND', 'not found'],
  6: ['ALREADY_EXISTS', 'already exists'],
  7: ['PERMISSION_DENIED', 'permission denied'],
  8: ['RESOURCE_EXHAUSTED', 'resource exhausted'],
  9: ['FAILED_PRECONDITION', 'failed precondition'],
  10: ['ABORTED', 'aborted'],
  11: ['OUT_OF_RANGE', 'out of range'],
  12: ['UNIMPLEMENTED', 'unimplemented'],
  13: ['INTERNAL', 'internal error'],
  14: ['UNAVAILABLE', 'unavailable'],
  15: ['DATA_LOSS', 'data loss'],
  16: ['UNAUTHENTICATED', 'unauthenticated'],
};
/** A service that did not answer in time, or at all. */
const UNAVAILABLE = new Set([4, 14]);
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

const NO_CREDENTIALS = /Could not load the default credentials/i;
const LOGIN = 'gcloud auth application-default login';
const MAX_DETAIL = 200;

interface GrpcFailure {
  readonly code: number;
  /** What the server said, without the `14 UNAVAILABLE:` prefix; first line only. */
  readonly detail: string;
}

/**
 * An error's message, if it is an error. Not `instanceof Error`: an error made in another
 * realm (Node's own, under jest) is no instance of this one's Error.
 */
function messageOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { message } = error as { message?: unknown };
  return typeof message === 'string' ? message : undefined;
}

/** What a client library's message opens with: `14 UNAVAILABLE: `. */
const STATUS_PREFIX = /^(\d{1,2}) ([A-Z_]+): /;

/**
 * The gRPC status and detail of a client library's error, if it is one: a numeric `code`
 * (google-gax's errors), or, failing that, a message that opens with a status.
 */
function grpcFailure(error: unknown): GrpcFailure | undefined {
  const message = messageOf(error);
  if (message === undefined) return undefined;
  const { code, details } = error as { code?: unknown; details?: unknown };
  const prefix = STATUS_PREFIX.exec(message);
  const named = prefix && STATUSES[Number(prefix[1])]?.[0] === prefix[2] ? Number(prefix[1]) : undefined;
  const number = typeof code === 'number' ? code : named;
  if (number === undefined || STATUSES[number] === undefined) return undefined;
  const text = typeof details === 'string' && details !== '' ? details : message;
  const detail = (text.replace(STATUS_PREFIX, '').split('\n')[0] ?? '').trim();
  return { code: number, detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}…` : detail };
}

/** A status in words: `unavailable`, `permission denied`. */
function words(failure: GrpcFailure): string {
  return STATUSES[failure.code][1];
}

function hasNoCredentials(error: unknown): boolean {
  return NO_CREDENTIALS.test(messageOf(error) ?? '');
}

function noCredentials(where: Destination | undefined): string {
  if (where?.service === 'Datastore')
    return (
      `no Google credentials to reach Datastore: run ${LOGIN}; ` +
      'for the local stack instead, export DATASTORE_EMULATOR_HOST as npm start prints it'
    );
  if (where?.service === 'Secret Manager')
    return (
      `no Google credentials to reach Secret Manager${where.secret ? ` (${where.secret})` : ''}: run ${LOGIN}; ` +
      'for the local stack instead, export SECRET_MANAGER_EMULATOR_HOST and SIGNING_KEY_SECRET as npm start prints them'
    );
  return `no Google credentials: run ${LOGIN}; for the local stack instead, export the variables npm start prints`;
}

function datastoreFailure(where: Extract<Destination, { service: 'Datastore' }>, failure: GrpcFailure): string {
  const project = where.projectId ? ` in project ${where.projectId}` : '';
  if (UNAVAILABLE.has(failure.code))
    return where.emulatorHost
      ? `cannot reach Datastore at ${where.emulatorHost} (DATASTORE_EMULATOR_HOST): ` +
          'is the emulator (npm start) still running? npm start prints the host to use'
      : `cannot reach Datastore${project} (${words(failure)}): check the network and try again`;
  if (failure.code === PERMISSION_DENIED)
    return (
      `Datastore refused access${project} (permission denied): check PROJECT_ID (or --project) ` +
      'and that your account has a Datastore role there (roles/datastore.user)'
    );
  if (failure.code === UNAUTHENTICATED)
    return `Datastore refused your credentials (unauthenticated): run ${LOGIN} again`;
  if (failure.code === NOT_FOUND && !where.emulatorHost)
    return `Datastore${project} not found: check PROJECT_ID (or --project) and that the project has a database`;
  return `Datastore failed${project} (${words(failure)})${failure.detail ? `: ${failure.detail}` : ''}`;
}

function secretManagerFailure(
  where: Extract<Destination, { service: 'Secret Manager' }>,
  failure: GrpcFailure,
): string {
  const secret = where.secret ? `${where.secret} (${where.secretSetting})` : `the secret (${where.secretSetting})`;
  if (UNAVAILABLE.has(failure.code))
    return where.emulatorHost
      ? `cannot reach Secret Manager at ${where.emulatorHost} (SECRET_MANAGER_EMULATOR_HOST) for ${secret}: ` +
          'is npm start still running? It prints the host to use'
      : `cannot reach Secret Manager for ${secret} (${words(failure)}): check the network and try again`;
  if (failure.code === PERMISSION_DENIED)
    return (
      `Secret Manager refused access to ${secret} (permission denied): check the name, and that your account ` +
      'may manage the secret (roles/secretmanager.admin)'
    );
  if (failure.code === UNAUTHENTICATED)
    return `Secret Manager refused your credentials for ${secret} (unauthenticated): run ${LOGIN} again`;
  if (failure.code === NOT_FOUND) return `Secret Manager has no ${secret}: check the name, or create the secret first`;
  return `Secret Manager failed for ${secret} (${words(failure)})${failure.detail ? `: ${failure.detail}` : ''}`;
}

/**
 * The operator's version of a client library's failure, or undefined when `error` is not
 * one (it is then reported as it is). `where` is where the command's calls were going, when
 * known.
 */
export function explainServiceError(error: unknown, where?: Destination): ServiceError | undefined {
  // Before the gRPC check: the credentials error can also arrive wrapped in a gRPC status.
  if (hasNoCredentials(error)) return new ServiceError(noCredentials(where));
  const failure = grpcFailure(error);
  if (failure === undefined) return undefined;
  if (where?.service === 'Datastore') return new ServiceError(datastoreFailure(where, failure));
  if (where?.service === 'Secret Manager') return new ServiceError(secretManagerFailure(where, failure));
  return new ServiceError(`a Google API call failed (${words(failure)})${failure.detail ? `: ${failure.detail}` : ''}`);
}
