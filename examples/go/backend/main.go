// An integrator's backend in Go (1.19 or later), standard library only: a page with a
// speed-test button, and the route the page calls for a token. The route exchanges this site's
// M-Lab API key for a 20-second token, once per test, and hands the token to the page, which
// calls Locate with it. The key stays on the server; neither it nor a token is ever logged.
//
//	MLAB_API_KEY=mlabk.cii_… \
//	MLAB_TOKEN_URL=https://auth.mlab-oti.measurementlab.net/v0/token/integration \
//	go run .    # in examples/go/backend
//
// Environment: MLAB_API_KEY and MLAB_TOKEN_URL (required); PORT (default 3000, 0 picks a free
// one), HOST (default 127.0.0.1), LOCATE_URL (default Locate's ndt7 priority endpoint).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// A user is waiting: at most three calls, and never a wait longer than this between them.
const (
	maxAttempts    = 3
	maxWaitSeconds = 10
)

var (
	apiKey    = required("MLAB_API_KEY")
	tokenURL  = required("MLAB_TOKEN_URL")
	locateURL = orDefault("LOCATE_URL", "https://locate.measurementlab.net/v2/priority/nearest/ndt/ndt7")
	client    = &http.Client{Timeout: 10 * time.Second}
)

func required(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fmt.Fprintf(os.Stderr, "%s is not set: the key and the token URL come from the environment, never from code\n", name)
		os.Exit(2)
	}
	return value
}

func orDefault(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// errKeyRefused: M-Lab refused the key itself. Retrying cannot help; someone must fix MLAB_API_KEY.
var errKeyRefused = errors.New("M-Lab refused the API key")

// unavailableError: M-Lab asked us to come back later than we can make the user wait (or too many times).
type unavailableError struct{ retryAfterSeconds int }

func (e *unavailableError) Error() string { return "the token exchange is unavailable" }

// retryAfterSeconds reads Retry-After: seconds or an HTTP date (RFC 9110); missing or unreadable: 1 s.
func retryAfterSeconds(header string) int {
	header = strings.TrimSpace(header)
	if seconds, err := strconv.Atoi(header); err == nil && seconds >= 0 {
		return seconds
	}
	if when, err := http.ParseTime(header); err == nil {
		if wait := int(time.Until(when).Seconds() + 0.999); wait > 0 {
			return wait
		}
		return 0
	}
	return 1
}

type tokenAnswer struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

// exchangeKey gets a fresh token from M-Lab. Nothing is cached, so no token outlives its
// expires_in here: each speed test gets its own.
func exchangeKey() (tokenAnswer, error) {
	body, _ := json.Marshal(map[string]string{"api_key": apiKey})
	for attempt := 1; ; attempt++ {
		var wait int
		var status string
		response, err := client.Post(tokenURL, "application/json", bytes.NewReader(body))
		if err != nil {
			// No answer at all (network, timeout): as transient as a 503.
			status, wait = "no answer", 1
		} else {
			var answer tokenAnswer
			switch response.StatusCode {
			case http.StatusOK:
				err = json.NewDecoder(response.Body).Decode(&answer)
				response.Body.Close()
				return answer, err
			case http.StatusUnauthorized:
				response.Body.Close()
				return answer, errKeyRefused
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				_, _ = io.Copy(io.Discard, response.Body)
				response.Body.Close()
				status, wait = strconv.Itoa(response.StatusCode), retryAfterSeconds(response.Header.Get("Retry-After"))
			default:
				response.Body.Close()
				return answer, fmt.Errorf("the token exchange answered %d", response.StatusCode)
			}
		}
		if attempt >= maxAttempts || wait > maxWaitSeconds {
			return tokenAnswer{}, &unavailableError{retryAfterSeconds: wait}
		}
		log.Printf("token exchange: %s; retrying in %d s (attempt %d of %d)", status, wait, attempt+1, maxAttempts)
		time.Sleep(time.Duration(wait) * time.Second)
	}
}

func send(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func tokenRoute(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		send(w, http.StatusMethodNotAllowed, map[string]string{"error": "Use POST."})
		return
	}
	answer, err := exchangeKey()
	var unavailable *unavailableError
	switch {
	case err == nil:
		send(w, http.StatusOK, map[string]interface{}{"token": answer.Token, "expires_in": answer.ExpiresIn})
		log.Print("token exchange: 200; token handed to the page")
	case errors.Is(err, errKeyRefused):
		log.Print("token exchange: 401: M-Lab refused the API key; fix MLAB_API_KEY (not retrying)")
		send(w, http.StatusInternalServerError, map[string]string{"error": "The speed test is not configured correctly."})
	case errors.As(err, &unavailable):
		log.Printf("token exchange: unavailable; gave up, the page may try again in %d s", unavailable.retryAfterSeconds)
		w.Header().Set("Retry-After", strconv.Itoa(unavailable.retryAfterSeconds))
		send(w, http.StatusServiceUnavailable, map[string]string{"error": "The speed test is unavailable; try again shortly."})
	default:
		log.Printf("token exchange failed: %v", err)
		send(w, http.StatusBadGateway, map[string]string{"error": "The speed test is unavailable."})
	}
}

// page asks this site's backend for a token when the user starts a test, keeps it in a local
// variable only, and calls Locate with it in the Authorization header (ESPv2, in front of
// Locate, also reads an access_token query parameter). Locate answers the nearest servers, each
// with ready-made URLs for the ndt7 client.
const page = `<!doctype html>
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
`

func main() {
	log.SetFlags(0)
	quoted, _ := json.Marshal(locateURL)
	html := strings.Replace(page, "LOCATE_URL", string(quoted), 1)

	mux := http.NewServeMux()
	mux.HandleFunc("/mlab-token", tokenRoute)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			send(w, http.StatusNotFound, map[string]string{"error": "Not found."})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	})

	listener, err := net.Listen("tcp", net.JoinHostPort(orDefault("HOST", "127.0.0.1"), orDefault("PORT", "3000")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	log.Fatal(http.Serve(listener, mux))
}
