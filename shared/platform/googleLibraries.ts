/**
 * google-auth-library, which the functions need only on Google Cloud (access tokens for
 * Datastore and Secret Manager; accessTokens.ts), loaded on first use. The build bundles this
 * module as a file of its own beside each function's index.js (scripts/build/functionBundle.mts),
 * so that a function on the emulator with a key file neither parses nor evaluates it at cold
 * start. Callers `require()` it where they need it. The functions carry no gRPC, google-gax or
 * Secret Manager client: they call Google's REST APIs (googleRest.ts).
 */
export { GoogleAuth } from 'google-auth-library';
