/**
 * Starts one Datastore emulator for the whole run, unless DATASTORE_EMULATOR_HOST points at
 * one already. Jest workers start after this and inherit the variable.
 */
import { startEmulator, type Emulator } from '../../scripts/dev/emulator';

declare global {
  // Read by globalTeardown, which runs in the same context.
  var __DATASTORE_EMULATOR__: Emulator | undefined;
}

export default async function globalSetup(): Promise<void> {
  process.env.PROJECT_ID ||= 'token-exchange-test';
  if (process.env.DATASTORE_EMULATOR_HOST) return;
  const emulator = await startEmulator({ projectId: process.env.PROJECT_ID });
  process.env.DATASTORE_EMULATOR_HOST = emulator.host;
  globalThis.__DATASTORE_EMULATOR__ = emulator;
}
