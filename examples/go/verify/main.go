// A verifier for M-Lab's exchanged tokens, in Go with go-jose v4, as M-Lab's Go services
// verify them. Verifier is the part to copy; main reads one token on stdin and prints the
// claims to trust, or why the token was refused (never the token itself).
//
//	cd examples/go/verify && go mod tidy    # once: fetches go-jose, writes go.sum
//	MLAB_JWKS_URL=https://auth.mlab-oti.measurementlab.net/.well-known/jwks.json \
//	MLAB_TOKEN_AUDIENCE=integration go run . < token.txt
//
// Environment: MLAB_JWKS_URL (required), MLAB_TOKEN_AUDIENCE (integration or autojoin; default
// integration), MLAB_TOKEN_ISSUER (default token-exchange, the functions' TOKEN_ISSUER).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// leeway for exp and nbf: a few seconds of clock skew at most (the tokens live 20 s).
	leeway = 2 * time.Second
	// refetchCooldown: at most one re-fetch of the key set per this long for unknown kids,
	// so tokens with made-up kids cannot make the verifier hammer the JWKS URL.
	refetchCooldown = 30 * time.Second
	// defaultMaxAge: how long to keep the key set when its answer names no max-age.
	defaultMaxAge = time.Hour
)

// TrustedClaims are the claims to route and account by: int_id, key_id and tier for an
// integration token, org for an autojoin token.
type TrustedClaims struct {
	IntegrationID string `json:"int_id,omitempty"`
	KeyID         string `json:"key_id,omitempty"`
	Tier          *int   `json:"tier,omitempty"`
	Org           string `json:"org,omitempty"`
}

// Verifier checks tokens against the published key set, which it caches for the max-age of
// the JWKS answer and re-fetches early (rate-limited) when a token names a kid it lacks: that
// is how a newly promoted signing key reaches it before the cache expires.
type Verifier struct {
	JWKSURL  string
	Issuer   string
	Audience string
	Client   *http.Client

	mu          sync.Mutex
	keys        jose.JSONWebKeySet
	expires     time.Time
	lastFetched time.Time
}

var maxAgePattern = regexp.MustCompile(`max-age=(\d+)`)

func (v *Verifier) fetch() error {
	v.lastFetched = time.Now()
	response, err := v.Client.Get(v.JWKSURL)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("the key set answered %d", response.StatusCode)
	}
	var keys jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(response.Body, 1<<20)).Decode(&keys); err != nil {
		return err
	}
	maxAge := defaultMaxAge
	if m := maxAgePattern.FindStringSubmatch(response.Header.Get("Cache-Control")); m != nil {
		seconds, _ := strconv.Atoi(m[1])
		maxAge = time.Duration(seconds) * time.Second
	}
	v.keys, v.expires = keys, time.Now().Add(maxAge)
	return nil
}

// key is the published key named kid: from the cache while it is fresh, else after a fetch;
// an unknown kid triggers one fetch per refetchCooldown.
func (v *Verifier) key(kid string) (jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Now().After(v.expires) {
		if err := v.fetch(); err != nil && len(v.keys.Keys) == 0 {
			return jose.JSONWebKey{}, fmt.Errorf("cannot read the key set: %w", err)
		}
	}
	if found := v.keys.Key(kid); len(found) > 0 {
		return found[0], nil
	}
	if time.Since(v.lastFetched) >= refetchCooldown {
		if err := v.fetch(); err == nil {
			if found := v.keys.Key(kid); len(found) > 0 {
				return found[0], nil
			}
		}
	}
	return jose.JSONWebKey{}, errors.New("no published key has this kid")
}

// Verify returns the claims to trust, or why the token is refused.
func (v *Verifier) Verify(token string) (TrustedClaims, error) {
	var trusted TrustedClaims
	// RS256 only: what production signs with, and all ESPv2 (in front of Locate) verifies.
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return trusted, err
	}
	header := parsed.Headers[0]
	if header.KeyID == "" {
		return trusted, errors.New("the token names no kid")
	}
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return trusted, errors.New("the token is not a JWT (typ)")
	}
	key, err := v.key(header.KeyID)
	if err != nil {
		return trusted, err
	}
	var standard jwt.Claims
	if err := parsed.Claims(key.Key, &standard, &trusted); err != nil {
		return trusted, err
	}
	// Validate skips exp and nbf when they are absent: ours always carry both.
	if standard.Expiry == nil || standard.NotBefore == nil {
		return trusted, errors.New("the token lacks exp or nbf")
	}
	// ValidateWithLeeway, not Validate, whose default leeway is a whole minute.
	expected := jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: time.Now()}
	if err := standard.ValidateWithLeeway(expected, leeway); err != nil {
		return trusted, err
	}
	switch v.Audience {
	case "integration":
		if trusted.IntegrationID == "" || trusted.KeyID == "" || trusted.Tier == nil {
			return trusted, errors.New("the token lacks int_id, key_id or tier")
		}
	case "autojoin":
		if trusted.Org == "" {
			return trusted, errors.New("the token lacks org")
		}
	}
	return trusted, nil
}

func main() {
	jwksURL := os.Getenv("MLAB_JWKS_URL")
	if jwksURL == "" {
		fmt.Fprintln(os.Stderr, "MLAB_JWKS_URL is not set")
		os.Exit(2)
	}
	verifier := &Verifier{
		JWKSURL:  jwksURL,
		Issuer:   orDefault("MLAB_TOKEN_ISSUER", "token-exchange"),
		Audience: orDefault("MLAB_TOKEN_AUDIENCE", "integration"),
		Client:   &http.Client{Timeout: 10 * time.Second},
	}
	input, _ := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	claims, err := verifier.Verify(strings.TrimSpace(string(input)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "refused: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(claims)
	fmt.Println(string(out))
}

func orDefault(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
