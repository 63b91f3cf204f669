// An integrator's backend in Node (18 or later), with no dependencies: a page with a speed-test
// button, and the route the page calls for a token. The route exchanges this site's M-Lab API
// key for a 20-second token, once per test, and hands the token to the page, which calls Locate
// with it. The key stays on the server; neither it nor a token is ever logged.
//
//   MLAB_API_KEY=mlabk.cii_… \
//   MLAB_TOKEN_URL=https://auth.mlab-oti.measurementlab.net/v0/token/integration \
//   node examples/node/backend.mjs
//
// Environment: MLAB_API_KEY and MLAB_TOKEN_URL (required); PORT (default 3000, 0 picks a free
// one), HOST (default 127.0.0.1), LOCATE_URL (default Locate's ndt7 priority endpoint).
import { createServer } from 'node:http';

const API_KEY = required('MLAB_API_KEY');
const TOKEN_URL = required('MLAB_TOKEN_URL');
const LOCATE_URL = process.env.LOCATE_URL || 'https://locate.measurementlab.net/v2/priority/nearest/ndt/ndt7';
const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';

// A user is waiting: at most three calls, and never a wait longer than this between them.
const MAX_ATTEMPTS = 3;
const MAX_WAIT_SECONDS = 10;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set: the key and the token URL come from the environment, never from code`);
    process.exit(2);
  }
  return value;
}

/** M-Lab refused the key itself: retrying cannot help, someone must fix MLAB_API_KEY. */
class KeyRefused extends Error {}

/** M-Lab asked us to come back later than we can make the user wait (or too many times). */
class Unavailable extends Error {
  constructor(retryAfterSeconds) {
    super('the token exchange is unavailable');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Retry-After is seconds or an HTTP date (RFC 9110); missing or unreadable: 1 s. */
function retryAfterSeconds(header) {
  if (header === null) return 1;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1 : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/**
 * A fresh token from M-Lab: { token, expiresIn }. Nothing is cached, so no token outlives its
 * expires_in here: each speed test gets its own.
 */
async function exchangeKey() {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(TOKEN_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ api_key: API_KEY }),
      signal: AbortSignal.timeout(10_000),
    }).catch(() => null); // No answer at all (network, timeout): as transient as a 503.
    if (response?.status === 200) {
      const body = await response.json();
      return { token: body.token, expiresIn: body.expires_in };
    }
    await response?.body?.cancel();
    if (response?.status === 401) throw new KeyRefused('M-Lab refused the API key');
    if (response && response.status !== 429 && response.status !== 503) {
      throw new Error(`the token exchange answered ${response.status}`);
    }
    const wait = response ? retryAfterSeconds(response.headers.get('retry-after')) : 1;
    if (attempt >= MAX_ATTEMPTS || wait > MAX_WAIT_SECONDS) throw new Unavailable(wait);
    const what = response ? response.status : 'no answer';
    console.error(`token exchange: ${what}; retrying in ${wait} s (attempt ${attempt + 1} of ${MAX_ATTEMPTS})`);
    await sleep(wait);
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

async function tokenRoute(res) {
  try {
    const { token, expiresIn } = await exchangeKey();
    send(res, 200, { token, expires_in: expiresIn });
    console.error('token exchange: 200; token handed to the page');
  } catch (error) {
    if (error instanceof KeyRefused) {
      console.error('token exchange: 401: M-Lab refused the API key; fix MLAB_API_KEY (not retrying)');
      send(res, 500, { error: 'The speed test is not configured correctly.' });
    } else if (error instanceof Unavailable) {
      console.error(`token exchange: unavailable; gave up, the page may try again in ${error.retryAfterSeconds} s`);
      send(
        res,
        503,
        { error: 'The speed test is unavailable; try again shortly.' },
        {
          'Retry-After': String(error.retryAfterSeconds),
        },
      );
    } else {
      console.error(`token exchange failed: ${error.message}`);
      send(res, 502, { error: 'The speed test is unavailable.' });
    }
  }
}

// The page asks this site's backend for a token when the user starts a test, keeps it in a
// local variable only, and calls Locate with it in the Authorization header (ESPv2, in front of
// Locate, also reads an access_token query parameter). Locate answers the nearest servers, each
// with ready-made URLs for the ndt7 client.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Speed test</title>
<button id="start">Start a speed test</button>
<pre id="out"></pre>
<script>
  const out = document.getElementById('out');
  document.getElementById('start').onclick = async () => {
    const tokenResponse = await fetch('/mlab-token', { method: 'POST', cache: 'no-store' });
    if (!tokenResponse.ok) {
      out.textContent = 'The speed test is unavailable; try again shortly.';
      return;
    }
    const { token } = await tokenResponse.json();
    const locate = await fetch(${JSON.stringify(LOCATE_URL)}, { headers: { Authorization: 'Bearer ' + token } });
    const { results } = await locate.json();
    out.textContent = 'Nearest servers: ' + results.map((server) => server.machine).join(', ');
    // Hand results[0].urls to an ndt7 client (e.g. @m-lab/ndt7) to run the test.
  };
</script>
`;

const server = createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/mlab-token' && req.method === 'POST') {
    void tokenRoute(res);
  } else if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  } else {
    send(res, 404, { error: 'Not found.' });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`listening on http://${HOST}:${port}`);
});
