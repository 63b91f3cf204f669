/**
 * The Google libraries the functions need only some of the time, loaded on first use:
 * Secret Manager (production's signing key), google-auth-library (Datastore tokens on Google
 * Cloud) and google-gax's gRPC (plaintext to a local stand-in). The build bundles this
 * module as a file of its own beside each function's index.js (scripts/build/functionBundle.mts),
 * so that a function signing with a key file, or reading Datastore on the emulator, neither
 * parses nor evaluates them at cold start. Callers `require()` it where they need it.
 */
export { SecretManagerServiceClient } from '@google-cloud/secret-manager';
export { GoogleAuth } from 'google-auth-library';
export { grpc } from 'google-gax';
