/**
 * What a Google client library's failure tells the operator: one line naming the service,
 * what it was asked about and the setting to fix, never the library's raw gRPC status.
 */
import { describeError, exitCodeFor } from '../../../scripts/cli/main';
import { explainServiceError, type Destination } from '../../../scripts/cli/serviceErrors';

const SECRET = 'projects/mlab-sandbox/secrets/token-exchange-signing-key';

/** An error as google-gax makes them: `code`, `details`, and a message that opens with the status. */
function grpcError(code: number, name: string, details: string): Error {
  return Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata: {} });
}

/** google-auth-library's words when Application Default Credentials find nothing. */
const noCredentials = (): Error =>
  new Error(
    'Could not load the default credentials. Browse to ' +
      'https://cloud.google.com/docs/authentication/getting-started for more information.',
  );

const datastore: Destination = { service: 'Datastore', projectId: 'mlab-sandbox' };
const datastoreEmulator: Destination = { service: 'Datastore', emulatorHost: '127.0.0.1:8081', projectId: 'p' };
const secretManager: Destination = { service: 'Secret Manager', secret: SECRET, secretSetting: 'SIGNING_KEY_SECRET' };
const standIn: Destination = { ...secretManager, emulatorHost: '127.0.0.1:8082' };

describe('explainServiceError', () => {
  it.each<[string, Error, Destination, string]>([
    [
      'no credentials, Datastore',
      noCredentials(),
      datastore,
      'no Google credentials to reach Datastore: run gcloud auth application-default login; ' +
        'for the local stack instead, export DATASTORE_EMULATOR_HOST as npm start prints it',
    ],
    [
      'no credentials, Secret Manager',
      noCredentials(),
      secretManager,
      `no Google credentials to reach Secret Manager (${SECRET}): run gcloud auth application-default login; ` +
        'for the local stack instead, export SECRET_MANAGER_EMULATOR_HOST and SIGNING_KEY_SECRET ' +
        'as npm start prints them',
    ],
    [
      'no credentials, wrapped in a gRPC status by the channel',
      grpcError(16, 'UNAUTHENTICATED', `Getting metadata from plugin failed with error: ${noCredentials().message}`),
      datastore,
      'no Google credentials to reach Datastore: run gcloud auth application-default login; ' +
        'for the local stack instead, export DATASTORE_EMULATOR_HOST as npm start prints it',
    ],
    [
      'the Secret Manager stand-in not answering',
      grpcError(14, 'UNAVAILABLE', 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:8082'),
      standIn,
      `cannot reach Secret Manager at 127.0.0.1:8082 (SECRET_MANAGER_EMULATOR_HOST) for ${SECRET} ` +
        '(SIGNING_KEY_SECRET): is npm start still running? It prints the host to use',
    ],
    [
      "Google's Secret Manager not answering in time, the secret given with --secret",
      grpcError(4, 'DEADLINE_EXCEEDED', 'Deadline exceeded'),
      { ...secretManager, secretSetting: '--secret' },
      `cannot reach Secret Manager for ${SECRET} (--secret) (deadline exceeded): check the network and try again`,
    ],
    [
      'Secret Manager refusing the caller',
      grpcError(7, 'PERMISSION_DENIED', `Permission 'secretmanager.secrets.get' denied for resource '${SECRET}'`),
      secretManager,
      `Secret Manager refused access to ${SECRET} (SIGNING_KEY_SECRET) (permission denied): check the name, ` +
        'and that your account may manage the secret (roles/secretmanager.admin)',
    ],
    [
      'Secret Manager refusing stale credentials',
      grpcError(16, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'),
      secretManager,
      `Secret Manager refused your credentials for ${SECRET} (SIGNING_KEY_SECRET) (unauthenticated): ` +
        'run gcloud auth application-default login again',
    ],
    [
      'a secret that does not exist',
      grpcError(5, 'NOT_FOUND', `Secret [${SECRET}] not found or has no versions.`),
      secretManager,
      `Secret Manager has no ${SECRET} (SIGNING_KEY_SECRET): check the name, or create the secret first`,
    ],
    [
      'another refusal, in words with what the server said',
      grpcError(9, 'FAILED_PRECONDITION', 'Secret Version [x/versions/1] is in DISABLED state.'),
      secretManager,
      `Secret Manager failed for ${SECRET} (SIGNING_KEY_SECRET) (failed precondition): ` +
        'Secret Version [x/versions/1] is in DISABLED state.',
    ],
    [
      'the Datastore emulator gone',
      grpcError(14, 'UNAVAILABLE', 'No connection established'),
      datastoreEmulator,
      'cannot reach Datastore at 127.0.0.1:8081 (DATASTORE_EMULATOR_HOST): ' +
        'is the emulator (npm start) still running? npm start prints the host to use',
    ],
    [
      'Datastore refusing the caller',
      grpcError(7, 'PERMISSION_DENIED', 'Missing or insufficient permissions.'),
      datastore,
      'Datastore refused access in project mlab-sandbox (permission denied): check PROJECT_ID (or --project) ' +
        'and that your account has a Datastore role there (roles/datastore.user)',
    ],
  ])('ExplainServiceError_%s_SaysWhatToDoInOneLine', (_, error, where, expected) => {
    const explained = explainServiceError(error, where);
    expect(explained?.message).toBe(expected);
    expect(describeError(explained)).toBe(expected);
    expect(exitCodeFor(explained)).toBe(1);
    expect(expected).not.toMatch(/\d+ [A-Z_]{4,}:|\n|Browse to/);
  });

  it('ExplainServiceError_AStatusOnlyInTheMessage_IsStillReworded', () => {
    const error = new Error('14 UNAVAILABLE: No connection established');
    expect(explainServiceError(error, datastoreEmulator)?.message).toMatch(/^cannot reach Datastore at 127\.0\.0\.1/);
  });

  it.each([
    ['an error of our own', new TypeError('x is not a function')],
    ['a file system error', Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })],
    ['a message that merely looks like a status', new Error('99 BOTTLES: of beer')],
    ['something thrown that is no Error', '14 UNAVAILABLE: no'],
  ])('ExplainServiceError_%s_IsLeftAlone', (_, error) => {
    expect(explainServiceError(error, datastore)).toBeUndefined();
  });

  it('DescribeError_NoCredentialsWithoutADestination_StillNamesTheLogin', () => {
    expect(describeError(noCredentials())).toBe(
      'no Google credentials: run gcloud auth application-default login; ' +
        'for the local stack instead, export the variables npm start prints',
    );
  });
});
