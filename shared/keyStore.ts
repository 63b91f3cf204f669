/**
 * One Datastore get by full key path, with a deadline. An outage is a value here, distinct
 * from "not found", because the two must answer differently (503 versus 401): an outage
 * must never look like a bad key to an integrator, nor a bad key like an outage.
 */
import type { Datastore, Key } from '@google-cloud/datastore';

export type Lookup =
  | { readonly status: 'found'; readonly entity: Record<string, unknown> }
  | { readonly status: 'missing' }
  | { readonly status: 'unavailable'; readonly cause: string };

export interface EntityReader {
  get(key: Key): Promise<Lookup>;
}

export function datastoreReader(datastore: Datastore, timeoutMs: number): EntityReader {
  return {
    async get(key: Key): Promise<Lookup> {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<Lookup>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'unavailable', cause: `no answer within ${timeoutMs} ms` }), timeoutMs);
      });
      // gax would otherwise retry UNAVAILABLE for up to 60 s; the race above is the real
      // bound, the call options only stop the client from working on after it.
      const lookup = datastore
        .get(key, { gaxOptions: { timeout: timeoutMs, maxRetries: 0 } })
        .then(([entity]): Lookup => (entity ? { status: 'found', entity: entity as Record<string, unknown> } : { status: 'missing' }))
        .catch((error: unknown): Lookup => ({ status: 'unavailable', cause: describe(error) }));
      try {
        return await Promise.race([lookup, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}
