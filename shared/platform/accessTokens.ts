/**
 * Access tokens for Google's APIs from Application Default Credentials, through
 * google-auth-library exactly as on Cloud Functions: on Cloud Run the metadata server
 * (`GCE_METADATA_HOST` redirects it), elsewhere GOOGLE_APPLICATION_CREDENTIALS or gcloud's ADC
 * file. The library caches the token and refreshes it five minutes before its expiry, one
 * refresh shared by all who ask meanwhile.
 *
 * Two things it leaves to us:
 * - Bounding the wait. On Cloud Run gcp-metadata sets no timeout, and a refresh that never
 *   ends would be shared by every later caller for ever. So each wait is bounded by its
 *   call's deadline, and a fetch that misses it, or fails, gives up that client: the next
 *   call starts a fresh one, which asks the metadata server anew.
 * - A token refused before its advertised expiry: that client is given up too, so the next
 *   call fetches a fresh token rather than the cached one.
 *
 * PROJECT_ID is handed to the library when set, so it never detects the project (which
 * spawns `gcloud config config-helper`, then asks the metadata server). The library is loaded
 * on first use (googleLibraries.ts): on an emulator nothing needs it.
 */
import type { AccessTokens } from './googleRest';

/** One scope for every API the functions call, so one token serves them all. */
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

interface Auth {
  getAccessToken(): Promise<string | null | undefined>;
  getProjectId(): Promise<string>;
}

export interface GoogleCredentials extends AccessTokens {
  /** PROJECT_ID when set; else detected by the library (and remembered once known). */
  projectId(timeoutMs: number): Promise<string>;
}

class Timeout extends Error {}

function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what} took over ${Math.round(ms)} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export class ApplicationDefaultCredentials implements GoogleCredentials {
  private auth: Auth | undefined;
  /** The token `auth` last handed out: a refusal of an older one changes nothing. */
  private lastToken: string | undefined;
  private knownProject: string | undefined;

  constructor(
    private readonly project: string | undefined,
    private readonly makeAuth: (options: { scopes: string; projectId?: string }) => Auth = defaultAuth,
  ) {
    this.knownProject = project;
  }

  private client(): Auth {
    this.auth ??= this.makeAuth({ scopes: SCOPE, ...(this.project ? { projectId: this.project } : {}) });
    return this.auth;
  }

  private giveUp(auth: Auth): void {
    if (this.auth === auth) {
      this.auth = undefined;
      this.lastToken = undefined;
    }
  }

  async token(timeoutMs: number): Promise<string> {
    const auth = this.client();
    let token: string | null | undefined;
    try {
      token = await within(auth.getAccessToken(), timeoutMs, 'the token');
    } catch (error) {
      this.giveUp(auth);
      // The library's message may hold the metadata server's answer; ours says what failed.
      throw new Error(error instanceof Timeout ? error.message : `credentials failed (${errorCode(error)})`, {
        cause: error,
      });
    }
    if (!token) {
      this.giveUp(auth);
      throw new Error('credentials gave no token');
    }
    if (this.auth === auth) this.lastToken = token;
    return token;
  }

  refused(token: string): void {
    if (this.auth !== undefined && token === this.lastToken) this.giveUp(this.auth);
  }

  async projectId(timeoutMs: number): Promise<string> {
    if (this.knownProject) return this.knownProject;
    const auth = this.client();
    try {
      this.knownProject = await within(auth.getProjectId(), timeoutMs, 'detecting the project');
    } catch (error) {
      this.giveUp(auth);
      throw new Error(error instanceof Timeout ? error.message : `no project id (${errorCode(error)})`, {
        cause: error,
      });
    }
    return this.knownProject;
  }
}

function errorCode(error: unknown): string {
  const { code, status, name } = (error ?? {}) as { code?: unknown; status?: unknown; name?: unknown };
  const parts = [code, status].filter((part) => typeof part === 'string' || typeof part === 'number');
  return parts.length > 0 ? parts.join(' ') : typeof name === 'string' ? name : 'Error';
}

function defaultAuth(options: { scopes: string; projectId?: string }): Auth {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (googleLibraries.ts)
  const { GoogleAuth } = require('./googleLibraries') as typeof import('./googleLibraries');
  return new GoogleAuth(options);
}

const perProject = new Map<string, ApplicationDefaultCredentials>();

/** The process's credentials (one token cache for every API it calls). */
export function applicationDefaultCredentials(projectId: string | undefined): GoogleCredentials {
  const key = projectId ?? '';
  let credentials = perProject.get(key);
  if (credentials === undefined) {
    credentials = new ApplicationDefaultCredentials(projectId);
    perProject.set(key, credentials);
  }
  return credentials;
}
