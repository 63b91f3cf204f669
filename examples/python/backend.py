"""An integrator's backend in Python 3.8 or later, standard library only.

A page with a speed-test button, and the route the page calls for a token. The route exchanges
this site's M-Lab API key for a 20-second token, once per test, and hands the token to the page,
which calls Locate with it. The key stays on the server; neither it nor a token is ever logged.

    MLAB_API_KEY=mlabk.cii_... \\
    MLAB_TOKEN_URL=https://auth.mlab-oti.measurementlab.net/v0/token/integration \\
    python3 examples/python/backend.py

Environment: MLAB_API_KEY and MLAB_TOKEN_URL (required); PORT (default 3000, 0 picks a free
one), HOST (default 127.0.0.1), LOCATE_URL (default Locate's ndt7 priority endpoint).
"""

import email.utils
import json
import os
import sys
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def required(name):
    value = os.environ.get(name)
    if not value:
        print(f"{name} is not set: the key and the token URL come from the environment, never from code",
              file=sys.stderr)
        sys.exit(2)
    return value


API_KEY = required("MLAB_API_KEY")
TOKEN_URL = required("MLAB_TOKEN_URL")
LOCATE_URL = os.environ.get("LOCATE_URL") or "https://locate.measurementlab.net/v2/priority/nearest/ndt/ndt7"
PORT = int(os.environ.get("PORT") or 3000)
HOST = os.environ.get("HOST") or "127.0.0.1"

# A user is waiting: at most three calls, and never a wait longer than this between them.
MAX_ATTEMPTS = 3
MAX_WAIT_SECONDS = 10


def log(message):
    print(message, file=sys.stderr, flush=True)


class KeyRefused(Exception):
    """M-Lab refused the key itself: retrying cannot help, someone must fix MLAB_API_KEY."""


class Unavailable(Exception):
    """M-Lab asked us to come back later than we can make the user wait (or too many times)."""

    def __init__(self, retry_after_seconds):
        super().__init__("the token exchange is unavailable")
        self.retry_after_seconds = retry_after_seconds


def retry_after_seconds(header):
    """Retry-After is seconds or an HTTP date (RFC 9110); missing or unreadable: 1 s."""
    if header is None:
        return 1
    if header.strip().isdigit():
        return int(header.strip())
    try:
        when = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return 1
    return max(0, int(when - time.time() + 0.999))


def exchange_key():
    """A fresh token from M-Lab: (token, expires_in). Nothing is cached, so no token outlives
    its expires_in here: each speed test gets its own."""
    body = json.dumps({"api_key": API_KEY}).encode()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        request = urllib.request.Request(
            TOKEN_URL, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.load(response)
                return answer["token"], answer["expires_in"]
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
            if status == 401:
                raise KeyRefused() from None
            if status not in (429, 503):
                raise RuntimeError(f"the token exchange answered {status}") from None
            wait = retry_after_seconds(error.headers.get("Retry-After"))
        except (urllib.error.URLError, TimeoutError):
            # No answer at all (network, timeout): as transient as a 503.
            status, wait = "no answer", 1
        if attempt >= MAX_ATTEMPTS or wait > MAX_WAIT_SECONDS:
            raise Unavailable(wait)
        log(f"token exchange: {status}; retrying in {wait} s (attempt {attempt + 1} of {MAX_ATTEMPTS})")
        time.sleep(wait)
    raise Unavailable(1)


# The page asks this site's backend for a token when the user starts a test, keeps it in a
# local variable only, and calls Locate with it in the Authorization header (ESPv2, in front of
# Locate, also reads an access_token query parameter). Locate answers the nearest servers, each
# with ready-made URLs for the ndt7 client.
PAGE = """<!doctype html>
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
    const locate = await fetch(LOCATE_URL, { headers: { Authorization: 'Bearer ' + token } });
    const { results } = await locate.json();
    out.textContent = 'Nearest servers: ' + results.map((server) => server.machine).join(', ');
    // Hand results[0].urls to an ndt7 client (e.g. @m-lab/ndt7) to run the test.
  };
</script>
""".replace("LOCATE_URL", json.dumps(LOCATE_URL))


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body, content_type="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        if self.path.split("?")[0] == "/":
            self.send(200, PAGE, "text/html; charset=utf-8")
        else:
            self.send(404, {"error": "Not found."})

    do_HEAD = do_GET

    def do_POST(self):
        if self.path.split("?")[0] != "/mlab-token":
            self.send(404, {"error": "Not found."})
            return
        try:
            token, expires_in = exchange_key()
        except KeyRefused:
            log("token exchange: 401: M-Lab refused the API key; fix MLAB_API_KEY (not retrying)")
            self.send(500, {"error": "The speed test is not configured correctly."})
        except Unavailable as error:
            log(f"token exchange: unavailable; gave up, the page may try again in {error.retry_after_seconds} s")
            self.send(503, {"error": "The speed test is unavailable; try again shortly."},
                      headers={"Retry-After": str(error.retry_after_seconds)})
        except Exception as error:  # noqa: BLE001 -- any other failure is ours to report, not the page's
            log(f"token exchange failed: {error}")
            self.send(502, {"error": "The speed test is unavailable."})
        else:
            self.send(200, {"token": token, "expires_in": expires_in})
            log("token exchange: 200; token handed to the page")

    def log_message(self, format, *args):
        # The request line only (method and path): never a header, so never a token.
        path = (getattr(self, "path", None) or "").split("?")[0]
        log(f"{getattr(self, 'command', None) or '-'} {path}")


def main():
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    print(f"listening on http://{HOST}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
