export default async function globalTeardown(): Promise<void> {
  await globalThis.__DATASTORE_EMULATOR__?.stop();
}
