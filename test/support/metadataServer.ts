/**
 * A stand-in for the metadata server of Cloud Run (and so of 2nd-gen Cloud Functions): where
 * google-auth-library, through gcp-metadata, gets the service account's access tokens and
 * the project. Point a process at it with `GCE_METADATA_HOST=<host>` (and `K_SERVICE` set,
 * so the library believes it is on Cloud Run).
 *
 * Its tokens are random and opaque, as Google's are to their holder; the Datastore and
 * Secret Manager stand-ins ask `isValid` whether to accept one. Tests can revoke every token
 * before its advertised expiry, and make the server hang: gcp-metadata sets no timeout on a
 * serverless platform, so a metadata server that never answers holds its caller.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface MetadataServerOptions {
  /** `expires_in` of each token, and how long `isValid` accepts it (default 3600 s). */
  readonly tokenTtlSeconds?: number;
  /** Default 'token-exchange-test'. */
  readonly projectId?: string;
  /** Default '123456789012'. */
  readonly projectNumber?: string;
}

export interface MetadataServer {
  /** '127.0.0.1:<port>': the value for GCE_METADATA_HOST. Plain HTTP, as the real one. */
  readonly host: string;
  /** Issued here, not past its expiry, not revoked. */
  isValid(token: string): boolean;
  /** Every token issued so far stops being valid, though each advertised a later expiry. */
  revokeAll(): void;
  /**
   * While false, requests are taken and never answered: not even after answering resumes,
   * the worst case of a hung server. New requests after `setAnswering(true)` are answered.
   */
  setAnswering(answering: boolean): void;
  /** Requests for a token received (held ones and refused ones included). */
  readonly tokenRequests: number;
  /** Every token issued, oldest first: to check that no log line holds one. */
  issuedTokens(): string[];
  /** Stops listening and drops every connection, held ones too. */
  close(): Promise<void>;
}

const FLAVOR = 'Metadata-Flavor';
const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

class Server implements MetadataServer {
  tokenRequests = 0;
  private readonly tokens = new Map<string, { expiresAt: number; revoked: boolean }>();
  private readonly sockets = new Set<Socket>();
  private answering = true;

  constructor(
    private readonly server: http.Server,
    readonly host: string,
    private readonly options: Required<MetadataServerOptions>,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => this.handle(req, res));
  }

  isValid(token: string): boolean {
    const issued = this.tokens.get(token);
    return issued !== undefined && !issued.revoked && Date.now() < issued.expiresAt;
  }

  revokeAll(): void {
    for (const issued of this.tokens.values()) issued.revoked = true;
  }

  setAnswering(answering: boolean): void {
    this.answering = answering;
  }

  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://metadata.google.internal');
    if (url.pathname === TOKEN_PATH) this.tokenRequests++;
    // Held: the request is read and left open. Nothing will ever answer it.
    if (!this.answering) return void req.resume();
    res.setHeader(FLAVOR, 'Google');
    if (req.headers[FLAVOR.toLowerCase()] !== 'Google') {
      return this.send(res, 403, 'text/html', 'Missing Metadata-Flavor:Google header.');
    }
    if (req.method !== 'GET') return this.send(res, 405, 'text/html', 'Method not allowed.');
    switch (url.pathname) {
      case TOKEN_PATH: {
        const token = `ya29.${randomBytes(30).toString('base64url')}`;
        const ttl = this.options.tokenTtlSeconds;
        this.tokens.set(token, { expiresAt: Date.now() + ttl * 1000, revoked: false });
        const body = JSON.stringify({ access_token: token, expires_in: ttl, token_type: 'Bearer' });
        return this.send(res, 200, 'application/json', body);
      }
      case '/computeMetadata/v1/project/project-id':
        return this.send(res, 200, 'application/text', this.options.projectId);
      case '/computeMetadata/v1/project/numeric-project-id':
        return this.send(res, 200, 'application/text', this.options.projectNumber);
      // gcp-metadata's isAvailable() probes `instance`; a listing of the directory is enough.
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/instance/':
        return this.send(res, 200, 'application/text', 'attributes/\nid\nregion\nservice-accounts/\nzone\n');
      case '/computeMetadata/v1':
      case '/computeMetadata/v1/':
        return this.send(res, 200, 'application/text', 'instance/\nproject/\n');
      default:
        return this.send(res, 404, 'text/html', 'Not Found');
    }
  }

  private send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, { 'Content-Type': contentType }).end(body);
  }
}

/** Starts a metadata server on 127.0.0.1 (a free port). Call `close()` when done. */
export async function startMetadataServer(options: MetadataServerOptions = {}): Promise<MetadataServer> {
  // Idle sockets kept a minute, so a client never meets a reset no test asked for.
  const server = http.createServer({ keepAliveTimeout: 60_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new Server(server, `127.0.0.1:${port}`, {
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
    projectId: options.projectId ?? 'token-exchange-test',
    projectNumber: options.projectNumber ?? '123456789012',
  });
}
