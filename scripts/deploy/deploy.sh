#!/usr/bin/env bash
# Builds the three Cloud Functions and deploys them with gcloud (2nd gen, nodejs24), creates
# or updates the log-based metrics made from their log lines, the operators' dashboard and the
# alert policies over them, and, with AUTH_DOMAIN set, the front door: one HTTPS host at the Go
# service's paths, behind an external Application Load Balancer with a Cloud Armor rate limit per
# client IP on each backend.
#
#   scripts/deploy/deploy.sh [--dry-run] [--skip-build] [--help]
#
# --dry-run     print every command, one per line, exactly as it would run; run nothing
#               (needs neither gcloud credentials nor a build). It prints what a first run, on a
#               project that has none of the resources, runs. A resource that may exist already
#               is looked up first: that look-up is printed as "# check: <command>" above the
#               command that creates it, which runs only when the look-up fails; where an
#               existing resource is updated or replaced instead, "# when found: <command>"
#               follows. The preflight comes first, before any change: each look-up that must
#               succeed is a "# check:" followed by "# else stop: <what to fix>".
# --skip-build  deploy dist/ as it is (CI builds and tests first)
#
# Settings, from the environment (defaults in brackets):
#   PROJECT_ID            required: the Google Cloud project
#   SERVICE_ACCOUNT       required: the functions' runtime identity (email, or the part before @)
#   SIGNING_KEY_SECRET    required: the Secret Manager secret holding the private JWK
#                         (`projects/<p>/secrets/<name>`, or just <name> in PROJECT_ID)
#   SIGNING_KEY_VERSION   [current] the version that signs: an alias, a number or latest
#   REGION                [us-east1]
#   CLIENT_INTEGRATION_NS [client-integration]   PLATFORM_NS [platform-credentials]
#   TOKEN_ISSUER          [token-exchange]
#   INTEGRATION_TOKEN_TTL, AUTOJOIN_TOKEN_TTL, DATASTORE_TIMEOUT_MS, VERIFIED_SECRET_CACHE_SIZE,
#   THROTTLE_MAX_FAILURES, THROTTLE_ADDRESS_MAX_FAILURES, FORWARDED_FOR_HOP, THROTTLE_WINDOW_SECONDS,
#   BCRYPT_CONCURRENCY, JWKS_REFRESH_SECONDS, JWKS_MAX_AGE_SECONDS, SIGNING_KEY_REFRESH_SECONDS,
#   LEGACY_AUTOJOIN_FALLBACK, LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE, DATASTORE_API_ENDPOINT,
#   SECRET_MANAGER_API_ENDPOINT, LAST_USED_RESOLUTION_SECONDS:
#                         passed to the functions when set (the README's Configuration table)
#   BUILD_SERVICE_ACCOUNT [unset] Cloud Build's identity for the builds (email)
#   METRIC_PREFIX         [token_exchange] names of the log-based metrics
#   ALERT_NOTIFICATION_CHANNELS [unset: none] where the alert policies notify: channel resource
#                         names, comma-separated, each projects/<project>/notificationChannels/<id>
#                         (`gcloud beta monitoring channels list --format='value(name,displayName)'`)
#   The alert policies, scripts/deploy/alerts/*.json, fire when, over 5 minutes:
#   ALERT_5XX_PERCENT     [5] more than this percent of one function's answers are 5xx (above 0,
#                         at most 100, up to two decimals)
#   ALERT_LATENCY_P99_MS  [1000] one exchange function's p99 latency_ms is above this
#   ALERT_EDGE_429_COUNT  [300] the front door answers more 429s than this, all paths together
#                         (with AUTH_DOMAIN only; 0: any 429)
#   and on any signing-unavailable answer, whatever these say.
#   AUTH_DOMAIN           [unset] the front door's host, e.g. auth.mlab-sandbox.measurementlab.net.
#                         Set: the load balancer, its certificate and Cloud Armor are created or
#                         updated, and FORWARDED_FOR_HOP, unless set, stays 2 (the load balancer
#                         appends <client>, <load balancer>). Unset: the functions answer at their
#                         own URLs only and FORWARDED_FOR_HOP, unless set, is 1; and if a front
#                         door exists (the URL map token-exchange), the deploy stops before any
#                         change rather than reopen the functions or change the hop under it.
#   INGRESS               [all] the functions' ingress: all (their own URLs answer too), or
#                         internal-and-gclb (only the load balancer reaches them). Closing is its
#                         own step, after DNS points at the front door: internal-and-gclb needs
#                         AUTH_DOMAIN, and stops before any change unless the front door's
#                         certificate is ACTIVE (built by an earlier run).
#   Cloud Armor counts per backend service, so per path: one client may send the count below
#   to each exchange path, and its own count to the jwks backend (the key set, /health and any
#   other path). Each count is at most EDGE_MAX_COUNT (below); each window one of Cloud Armor's:
#   10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600.
#   EDGE_RATE_LIMIT_COUNT [600] requests per client IP per window to one exchange path, above
#                         which Cloud Armor bans that IP from it, answering 429
#   EDGE_RATE_LIMIT_INTERVAL_SECONDS [60] that window
#   EDGE_BAN_SECONDS      [300] how long a banned IP keeps getting 429 there
#                         Why 600 a minute: an integrator's backend makes one exchange per test a
#                         user starts and an autojoin node one an hour, so 10 a second from one
#                         address is a very busy integrator; a script flooding the endpoint
#                         passes that within seconds and then costs nothing for the ban.
#   EDGE_JWKS_RATE_LIMIT_COUNT [1200], EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS [60],
#   EDGE_JWKS_BAN_SECONDS [60]: the same for the jwks backend. Verifiers fetch the key set once
#                         per cache lifetime (ESPv2: 5 minutes; others honour max-age=3600) and an
#                         uptime check probes /health about once a minute from each location, so
#                         hundreds of verifiers behind one NAT address stay far below 20 a second;
#                         the ban is short because a verifier locked out past its cache cannot
#                         check tokens.
# Per function, <F> = INTEGRATION (exchangeIntegration), AUTOJOIN (exchangeAutojoin), JWKS:
#   <F>_MEMORY, <F>_CPU, <F>_CONCURRENCY, <F>_MIN_INSTANCES, <F>_MAX_INSTANCES
#   exchanges: 512Mi, 1 vCPU, concurrency 16; integration keeps 1 instance warm (a user waits
#   on it), autojoin none. bcrypt needs a whole vCPU: the 256 MiB default gets a sixth of one
#   (~0.5 s a compare), and a concurrency above 1 needs at least 1 vCPU anyway.
#   jwks: 256Mi, 1 vCPU, concurrency 80, no warm instance (verifiers cache its answer).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

dry_run=false
build=true
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    --skip-build) build=false ;;
    -h|--help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/../.."

fail() { echo "deploy.sh: $*" >&2; exit 2; }
require() { [ -n "${!1:-}" ] || fail "$1 is not set: $2"; }

require PROJECT_ID "the Google Cloud project to deploy to"
require SERVICE_ACCOUNT "the service account the functions run as (see the README's Deploy section)"
require SIGNING_KEY_SECRET "the Secret Manager secret holding the signing key (projects/<project>/secrets/<name>)"

REGION="${REGION:-us-east1}"
SIGNING_KEY_VERSION="${SIGNING_KEY_VERSION:-current}"
CLIENT_INTEGRATION_NS="${CLIENT_INTEGRATION_NS:-client-integration}"
PLATFORM_NS="${PLATFORM_NS:-platform-credentials}"
TOKEN_ISSUER="${TOKEN_ISSUER:-token-exchange}"
METRIC_PREFIX="${METRIC_PREFIX:-token_exchange}"
AUTH_DOMAIN="${AUTH_DOMAIN:-}"
INGRESS="${INGRESS:-all}"
EDGE_RATE_LIMIT_COUNT="${EDGE_RATE_LIMIT_COUNT:-600}"
EDGE_RATE_LIMIT_INTERVAL_SECONDS="${EDGE_RATE_LIMIT_INTERVAL_SECONDS:-60}"
EDGE_BAN_SECONDS="${EDGE_BAN_SECONDS:-300}"
EDGE_JWKS_RATE_LIMIT_COUNT="${EDGE_JWKS_RATE_LIMIT_COUNT:-1200}"
EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS="${EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS:-60}"
EDGE_JWKS_BAN_SECONDS="${EDGE_JWKS_BAN_SECONDS:-60}"
ALERT_NOTIFICATION_CHANNELS="${ALERT_NOTIFICATION_CHANNELS:-}"
ALERT_5XX_PERCENT="${ALERT_5XX_PERCENT:-5}"
ALERT_LATENCY_P99_MS="${ALERT_LATENCY_P99_MS:-1000}"
ALERT_EDGE_429_COUNT="${ALERT_EDGE_429_COUNT:-300}"
# Google's maximum for a rate-based ban rule's count: "The minimum value is 1 request and the
# maximum value is 10,000 requests" (Cloud Armor, rate limiting overview). A larger count would
# pass gcloud's parser and fail at the API, in the middle of a deploy.
EDGE_MAX_COUNT=10000

case "$SERVICE_ACCOUNT" in
  *@*) ;;
  *) SERVICE_ACCOUNT="$SERVICE_ACCOUNT@$PROJECT_ID.iam.gserviceaccount.com" ;;
esac
case "$SIGNING_KEY_SECRET" in
  projects/*) ;;
  *) SIGNING_KEY_SECRET="projects/$PROJECT_ID/secrets/$SIGNING_KEY_SECRET" ;;
esac
[[ "$SIGNING_KEY_SECRET" =~ ^projects/([^/[:space:]]+)/secrets/([A-Za-z0-9_-]+)$ ]] \
  || fail "SIGNING_KEY_SECRET must look like projects/<project>/secrets/<name>, got $SIGNING_KEY_SECRET"
secret_project="${BASH_REMATCH[1]}"
secret_name="${BASH_REMATCH[2]}"
[[ "$PROJECT_ID" =~ ^[a-z][a-z0-9.:-]*[a-z0-9]$ ]] || fail "PROJECT_ID is not a project id: $PROJECT_ID"
[[ "$METRIC_PREFIX" =~ ^[A-Za-z0-9_]+$ ]] || fail "METRIC_PREFIX may hold only A-Z a-z 0-9 _, got $METRIC_PREFIX"
if [ -n "$AUTH_DOMAIN" ]; then
  [[ "$AUTH_DOMAIN" =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]([a-z0-9-]*[a-z0-9])?$ ]] && [ ${#AUTH_DOMAIN} -le 253 ] \
    || fail "AUTH_DOMAIN must be a lowercase DNS name such as auth.mlab-sandbox.measurementlab.net, got $AUTH_DOMAIN"
fi
case "$INGRESS" in
  all) ;;
  internal-and-gclb)
    [ -n "$AUTH_DOMAIN" ] || fail "INGRESS=internal-and-gclb needs AUTH_DOMAIN: without the front door nothing could reach the functions" ;;
  *) fail "INGRESS must be all or internal-and-gclb, got $INGRESS" ;;
esac
# The edge settings are checked whether or not AUTH_DOMAIN is set, so a bad CI variable shows
# at once, not on the day the front door is first built.
for edge in EDGE EDGE_JWKS; do
  v="${edge}_RATE_LIMIT_COUNT"
  [[ "${!v}" =~ ^[1-9][0-9]{0,4}$ ]] && [ "${!v}" -le "$EDGE_MAX_COUNT" ] \
    || fail "$v must be a whole number from 1 to $EDGE_MAX_COUNT (Cloud Armor's maximum for a rate-based rule), got ${!v}"
  v="${edge}_RATE_LIMIT_INTERVAL_SECONDS"
  [[ " 10 30 60 120 180 240 300 600 900 1200 1800 2700 3600 " == *" ${!v} "* ]] \
    || fail "$v must be one of Cloud Armor's windows (10 30 60 120 180 240 300 600 900 1200 1800 2700 3600), got ${!v}"
  v="${edge}_BAN_SECONDS"
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || fail "$v must be a whole number above 0, got ${!v}"
done
# The alerts' settings too, AUTH_DOMAIN or not. Each lands in a policy's JSON through sed, so
# nothing but the shapes below may get through (no quote, comma, | or &).
alert_channels=''
if [ -n "$ALERT_NOTIFICATION_CHANNELS" ]; then
  IFS=, read -ra channels <<< "$ALERT_NOTIFICATION_CHANNELS,"
  for channel in "${channels[@]}"; do
    [[ "$channel" =~ ^projects/[a-z0-9][a-z0-9.:-]*/notificationChannels/[A-Za-z0-9_-]+$ ]] \
      || fail "ALERT_NOTIFICATION_CHANNELS must be channel names, comma-separated without spaces, each projects/<project>/notificationChannels/<id>, got '$ALERT_NOTIFICATION_CHANNELS'"
    alert_channels+="${alert_channels:+, }\"$channel\""
  done
fi
[[ "$ALERT_5XX_PERCENT" =~ ^[0-9]{1,3}(\.[0-9]{1,2})?$ ]] && awk "BEGIN { exit !($ALERT_5XX_PERCENT > 0 && $ALERT_5XX_PERCENT <= 100) }" \
  || fail "ALERT_5XX_PERCENT must be a percentage above 0 and at most 100, such as 5 or 0.5 (at most two decimals), got $ALERT_5XX_PERCENT"
[[ "$ALERT_LATENCY_P99_MS" =~ ^[1-9][0-9]{0,5}$ ]] || fail "ALERT_LATENCY_P99_MS must be a whole number of milliseconds above 0, got $ALERT_LATENCY_P99_MS"
[[ "$ALERT_EDGE_429_COUNT" =~ ^(0|[1-9][0-9]{0,8})$ ]] || fail "ALERT_EDGE_429_COUNT must be a whole number (0 alerts on any 429), got $ALERT_EDGE_429_COUNT"

# The functions, in deploy order: shared/platform/functions.json's names (a unit test compares).
functions=(exchangeIntegration exchangeAutojoin jwks)
# The front door's resources are named after it; its URL map is how a later run finds it.
lb=token-exchange
p="--project=$PROJECT_ID"
if [ -n "$AUTH_DOMAIN" ]; then
  cert="$lb-${AUTH_DOMAIN//./-}"
  [ ${#cert} -le 63 ] || fail "AUTH_DOMAIN is too long for a resource name ($cert has more than 63 characters)"
fi

# The functions' environment, the same for all three (each reads what it needs).
env_vars=''
add_env() {
  [[ "$2" =~ ^[^,[:space:]]+$ ]] || fail "$1 must not be empty or hold spaces or commas, got '$2'"
  env_vars+="${env_vars:+,}$1=$2"
}
add_env PROJECT_ID "$PROJECT_ID"
add_env CLIENT_INTEGRATION_NS "$CLIENT_INTEGRATION_NS"
add_env PLATFORM_NS "$PLATFORM_NS"
add_env SIGNING_KEY_SECRET "$SIGNING_KEY_SECRET"
add_env SIGNING_KEY_VERSION "$SIGNING_KEY_VERSION"
add_env TOKEN_ISSUER "$TOKEN_ISSUER"
# Every setting of shared/platform/config.ts SETTINGS marked `when-set` (a unit test checks).
for name in INTEGRATION_TOKEN_TTL AUTOJOIN_TOKEN_TTL DATASTORE_TIMEOUT_MS VERIFIED_SECRET_CACHE_SIZE \
  THROTTLE_MAX_FAILURES THROTTLE_ADDRESS_MAX_FAILURES FORWARDED_FOR_HOP THROTTLE_WINDOW_SECONDS \
  BCRYPT_CONCURRENCY JWKS_REFRESH_SECONDS JWKS_MAX_AGE_SECONDS SIGNING_KEY_REFRESH_SECONDS \
  LEGACY_AUTOJOIN_FALLBACK LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE DATASTORE_API_ENDPOINT \
  SECRET_MANAGER_API_ENDPOINT LAST_USED_RESOLUTION_SECONDS; do
  if [ -n "${!name:-}" ]; then add_env "$name" "${!name}"; fi
done
# The hop follows the path clients take. Without the front door they call the functions' own
# URLs, where Google's front end appends just <client> to X-Forwarded-For: the default hop (2,
# for the load balancer's two entries) would read an entry the client wrote, and a guesser could
# pick the address it is counted by. With it, the default 2 stays, also while ingress is still
# all (the README says what a caller of a function's own URL can do meanwhile).
if [ -z "$AUTH_DOMAIN" ] && [ -z "${FORWARDED_FOR_HOP:-}" ]; then add_env FORWARDED_FOR_HOP 1; fi

# Every setting is checked before anything runs; then the commands run one by one, each a
# line of shell that --dry-run prints instead, so what the dry run shows is exactly what runs.
# A step is "<kind> <line>": run (always), check (a look-up: does the resource exist?),
# create (runs when the last check failed), update (runs when it succeeded), require (stops the
# deploy with its line as the message when the last check failed).
steps=()
step() { steps+=("run $1"); }
# ensure <check> <create> [<update>]: describe, else create (or update what exists).
ensure() {
  steps+=("check $1" "create $2")
  if [ -n "${3:-}" ]; then steps+=("update $3"); fi
}
# when_found <check> <command>...: the commands run, in order, only when the check succeeds.
when_found() {
  steps+=("check $1")
  shift
  local line
  for line in "$@"; do steps+=("update $line"); done
}
# expect <check> <message>: the preflight; the deploy stops, naming what to fix, unless the check succeeds.
expect() { steps+=("check $1" "require $2"); }
quote() {
  local out='' word flag
  for word in "$@"; do
    flag=''
    # --flag='value' rather than '--flag=value': the same word, easier to read.
    if [[ "$word" =~ ^(--[a-z-]+=)(.*)$ ]]; then flag="${BASH_REMATCH[1]}"; word="${BASH_REMATCH[2]}"; fi
    if [[ "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="${out:+ }$flag$word"
    else out+="${out:+ }$flag'${word//\'/\'\\\'\'}'"; fi
  done
  printf '%s' "$out"
}

# Preflight: what the functions need and the deploy does not make. Each would otherwise deploy
# "successfully" and answer 503 to every exchange.
if [ -z "$AUTH_DOMAIN" ]; then
  # A list, not a describe: a describe fails alike for "absent" and "not allowed to look", and
  # only an answer that names no URL map may let this run reopen ingress.
  expect "$(quote gcloud compute url-maps list --global --filter="name=$lb" --format='value(name)' "$p") | (! grep -q .)" \
    "a front door exists in $PROJECT_ID (URL map $lb), or URL maps could not be listed (that needs the Compute Engine API and compute.urlMaps.list): set AUTH_DOMAIN to its host, as the run that built it did; without it this deploy would reopen the functions to all callers and set FORWARDED_FOR_HOP=1 behind the load balancer"
fi
expect "$(quote gcloud iam service-accounts describe "$SERVICE_ACCOUNT" "$p")" \
  "SERVICE_ACCOUNT $SERVICE_ACCOUNT was not found, or this identity cannot read it: create it (README, Build and deploy, step 3) or fix SERVICE_ACCOUNT"
expect "$(quote gcloud secrets describe "$secret_name" --project="$secret_project")" \
  "the secret $SIGNING_KEY_SECRET was not found, or this identity cannot read its metadata: create it (README, Build and deploy, step 4) or fix SIGNING_KEY_SECRET"
if [[ "$SIGNING_KEY_VERSION" =~ ^([0-9]+|latest)$ ]]; then
  version_fix="enable that version or fix SIGNING_KEY_VERSION"
else
  version_fix="point the alias at the version that signs (gcloud secrets update $secret_name --project=$secret_project --update-version-aliases=$SIGNING_KEY_VERSION=<version>) or fix SIGNING_KEY_VERSION"
fi
expect "$(quote gcloud secrets versions describe "$SIGNING_KEY_VERSION" --secret="$secret_name" --project="$secret_project" --format='value(state)') | grep -qx ENABLED" \
  "SIGNING_KEY_VERSION=$SIGNING_KEY_VERSION names no enabled version of $SIGNING_KEY_SECRET: $version_fix"
expect "$(quote gcloud firestore databases describe --database='(default)' "$p" --format='value(type)') | grep -qx DATASTORE_MODE" \
  "$PROJECT_ID has no (default) database in Datastore mode, or this identity cannot read its metadata: create it (README, Build and deploy, step 2)"
# The alert policies are found again by a list (Monitoring numbers them itself), and a create
# makes a second policy where one exists: so the list must work before the deploy relies on it.
expect "$(quote gcloud alpha monitoring policies list "$p" --limit=1 --format='value(name)')" \
  "alert policies in $PROJECT_ID could not be listed (that needs the Cloud Monitoring API and monitoring.alertPolicies.list, in roles/monitoring.alertPolicyEditor): without the list a deploy could not tell the policies it made from none, and would make them again"
if [ "$INGRESS" = internal-and-gclb ]; then
  # Closing ingress in the run that first builds the front door would cut every caller off
  # until DNS moves, and a failure later in that run would leave the functions reachable from
  # nowhere: the front door must already answer, which starts with its certificate.
  expect "$(quote gcloud certificate-manager certificates describe "$cert" "$p" --format='value(managed.state)') | grep -qx ACTIVE" \
    "INGRESS=internal-and-gclb closes the functions' own URLs, but the certificate $cert is not ACTIVE: deploy with INGRESS=all, move DNS once the front door answers, then close ingress (README, Cutover from the Go service)"
fi

if $build; then step "$(quote npm run build)"; fi

# Log-based metrics (what the Go service's Prometheus gave): created, or updated if present.
# Before the functions: they need nothing of them, and Monitoring may take minutes to accept a
# new metric in an alert policy (below), which the functions' first builds give it.
for metric in requests latency; do
  name="${METRIC_PREFIX}_$metric"
  file="scripts/deploy/metrics/token_exchange_$metric.json"
  target="$(quote "$name" --project="$PROJECT_ID" --config-from-file="$file")"
  ensure "$(quote gcloud logging metrics describe "$name" --project="$PROJECT_ID")" \
    "gcloud logging metrics create $target" "gcloud logging metrics update $target"
done

deploy() {
  local name="$1" prefix="$2" memory="$3" cpu="$4" concurrency="$5" min="$6" max="$7"
  local v
  memory="$(v="${prefix}_MEMORY"; echo "${!v:-$memory}")"
  cpu="$(v="${prefix}_CPU"; echo "${!v:-$cpu}")"
  concurrency="$(v="${prefix}_CONCURRENCY"; echo "${!v:-$concurrency}")"
  min="$(v="${prefix}_MIN_INSTANCES"; echo "${!v:-$min}")"
  max="$(v="${prefix}_MAX_INSTANCES"; echo "${!v:-$max}")"
  [[ "$memory" =~ ^[0-9]+(Mi|Gi|M|G)$ ]] || fail "${prefix}_MEMORY must look like 512Mi or 1Gi, got $memory"
  [[ "$cpu" =~ ^[0-9.]+$ ]] || fail "${prefix}_CPU must be a number of vCPUs, got $cpu"
  for v in concurrency min max; do [[ "${!v}" =~ ^[0-9]+$ ]] || fail "${prefix}_${v^^} must be a whole number, got ${!v}"; done
  if [ "$concurrency" -gt 1 ] && awk "BEGIN { exit !($cpu < 1) }"; then
    fail "${prefix}_CONCURRENCY above 1 needs ${prefix}_CPU of at least 1 (got $cpu)"
  fi
  local args=(gcloud functions deploy "$name" --gen2 --runtime=nodejs24 --trigger-http
    --entry-point="$name" --source="dist/$name" --project="$PROJECT_ID" --region="$REGION"
    --service-account="$SERVICE_ACCOUNT")
  if [ -n "${BUILD_SERVICE_ACCOUNT:-}" ]; then
    args+=(--build-service-account="projects/$PROJECT_ID/serviceAccounts/$BUILD_SERVICE_ACCOUNT")
  fi
  # Public either way (integrators and nodes have no Google identity; the API key is the
  # credential). INGRESS=internal-and-gclb lets only the load balancer reach them, so nobody can
  # go around its rate limit to the functions' own URLs.
  args+=(--memory="$memory" --cpu="$cpu" --concurrency="$concurrency"
    --min-instances="$min" --max-instances="$max"
    --allow-unauthenticated --ingress-settings="$INGRESS" --set-env-vars="$env_vars" --quiet)
  step "$(quote "${args[@]}")"
}

deploy exchangeIntegration INTEGRATION 512Mi 1 16 1 100
deploy exchangeAutojoin AUTOJOIN 512Mi 1 16 0 20
deploy jwks JWKS 256Mi 1 80 0 20

# The operators' dashboard, scripts/deploy/metrics/dashboard.json, under a fixed id so a rerun finds
# it: the id goes into the definition on the way to gcloud (with the metrics' prefix, when it
# is not the default), and an update carries the etag it read just before, as the API requires.
dashboard=token-exchange
dashboard_name="projects/$PROJECT_ID/dashboards/$dashboard"
dashboard_sed=()
if [ "$METRIC_PREFIX" != token_exchange ]; then
  dashboard_sed=(-e "s|logging.googleapis.com/user/token_exchange_|logging.googleapis.com/user/${METRIC_PREFIX}_|g")
fi
ensure "$(quote gcloud monitoring dashboards describe "$dashboard" --project="$PROJECT_ID")" \
  "$(quote sed -e "1s|^{|{\"name\": \"$dashboard_name\", |" "${dashboard_sed[@]}" scripts/deploy/metrics/dashboard.json) | $(quote gcloud monitoring dashboards create --project="$PROJECT_ID" --config-from-file=-)" \
  "sed -e \"1s|^{|{\\\"name\\\": \\\"$dashboard_name\\\", \\\"etag\\\": \\\"\$($(quote gcloud monitoring dashboards describe "$dashboard" --project="$PROJECT_ID" --format='value(etag)'))\\\", |\" $(quote "${dashboard_sed[@]}" scripts/deploy/metrics/dashboard.json) | $(quote gcloud monitoring dashboards update "$dashboard" --project="$PROJECT_ID" --config-from-file=-)"

# The alert policies, scripts/deploy/alerts/<id>.json, through `gcloud alpha monitoring
# policies`: gcloud 528 has alert policies only there (no GA or beta group), and the other way,
# the Monitoring REST API by curl, would need an access token and JSON handling that the rest of
# this deploy does without. Monitoring numbers a policy itself, so each file carries the user
# label token_exchange_alert=<id>, by which a rerun finds it. On the way to gcloud, sed puts in
# the metrics' prefix (as for the dashboard), the threshold from its setting and the
# notification channels. An update replaces the whole policy, but keeps its condition's name:
# Monitoring would otherwise delete the condition and make a new one, on every deploy.
alert_sed=("${dashboard_sed[@]}")
if [ -n "$alert_channels" ]; then
  alert_sed+=(-e "s|\"notificationChannels\": \[]|\"notificationChannels\": [$alert_channels]|")
fi
# alert <id> <threshold>
alert() {
  local file="scripts/deploy/alerts/$1.json"
  local sed_args=("${alert_sed[@]}" -e "s|\"thresholdValue\": [0-9][0-9.]*|\"thresholdValue\": $2|")
  local list=(gcloud alpha monitoring policies list "$p" --filter="userLabels.token_exchange_alert=$1")
  # A create on a project's first deploy can come before Monitoring accepts the new log-based
  # metrics (Google: "If a metric was created recently, it could take up to 10 minutes to become
  # available"): that answer, and only that one, is tried again, a minute apart, 10 times at most.
  ensure "$(quote "${list[@]}" --format='value(name)') | grep -q ." \
    "tries=0; until out=\"\$($(quote sed "${sed_args[@]}" "$file") | $(quote gcloud alpha monitoring policies create "$p" --policy-from-file=-) 2>&1)\"; do [[ \"\$out\" == *'Cannot find metric'* ]] && [ \$((tries += 1)) -lt 10 ] || { printf '%s\n' \"\$out\" >&2; exit 1; }; echo 'Monitoring does not know the new metrics yet; trying again in 60 s' >&2; sleep 60; done" \
    "condition=\"\$($(quote "${list[@]}" --format='value(conditions[0].name)' --limit=1))\" && sed -e \"s|\\\"conditionThreshold\\\": {|\\\"name\\\": \\\"\$condition\\\", &|\" $(quote "${sed_args[@]}" "$file") | gcloud alpha monitoring policies update \"\${condition%/conditions/*}\" $(quote "$p" --policy-from-file=-)"
}
alert server_errors "$(awk "BEGIN { print $ALERT_5XX_PERCENT / 100 }")"
alert signing_unavailable 0 # any
alert latency_p99 "$ALERT_LATENCY_P99_MS"
# The load balancer's own count: Cloud Armor's 429s never reach a function's log.
if [ -n "$AUTH_DOMAIN" ]; then alert edge_429 "$ALERT_EDGE_429_COUNT"; fi

if [ -n "$AUTH_DOMAIN" ]; then
  # The front door: the Go service's four paths on one host. The functions stay in REGION; the
  # load balancer is global (EXTERNAL_MANAGED, the current Application Load Balancer).
  backend_url() { echo "https://www.googleapis.com/compute/v1/projects/$PROJECT_ID/global/backendServices/$lb-$1"; }
  # Cloud Armor: a rate-based rule counts per backend service it is attached to, so each backend
  # gets a policy, and the exchanges' count applies at each exchange path on its own.
  # edge_policy <policy> <settings prefix> <what it guards>
  edge_policy() {
    local policy="$1" count="$2_RATE_LIMIT_COUNT" interval="$2_RATE_LIMIT_INTERVAL_SECONDS" ban="$2_BAN_SECONDS"
    ensure "$(quote gcloud compute security-policies describe "$policy" "$p")" \
      "$(quote gcloud compute security-policies create "$policy" --type=CLOUD_ARMOR \
        --description="token-exchange: per-client-IP rate limit on $3" "$p")"
    local rule=(1000 --security-policy="$policy" --src-ip-ranges='*' --action=rate-based-ban
      --rate-limit-threshold-count="${!count}" --rate-limit-threshold-interval-sec="${!interval}"
      --ban-duration-sec="${!ban}" --conform-action=allow --exceed-action=deny-429 --enforce-on-key=IP
      --description="ban a client IP above ${!count} requests per ${!interval} s to this backend for ${!ban} s" "$p")
    ensure "$(quote gcloud compute security-policies rules describe 1000 --security-policy="$policy" "$p")" \
      "$(quote gcloud compute security-policies rules create "${rule[@]}")" \
      "$(quote gcloud compute security-policies rules update "${rule[@]}")"
  }
  edge_policy "$lb-edge" EDGE "the exchange functions, counted per path"
  edge_policy "$lb-edge-jwks" EDGE_JWKS "jwks: the key set, /health and any other path"

  # Per function: a serverless network endpoint group of the Cloud Run type (a 2nd-gen function
  # is a Cloud Run service; the Cloud Functions type serves 1st gen only), naming the service the
  # deployed function reports, and a backend service of the same name holding it.
  for fn in exchangeIntegration:integration exchangeAutojoin:autojoin jwks:jwks; do
    name="$lb-${fn#*:}"
    service="\"\$($(quote gcloud functions describe "${fn%%:*}" --gen2 --region="$REGION" "$p" --format='value(serviceConfig.service.basename())'))\""
    neg_create="$(quote gcloud compute network-endpoint-groups create "$name" --region="$REGION" --network-endpoint-type=serverless) --cloud-run-service=$service $(quote "$p")"
    ensure "$(quote gcloud compute network-endpoint-groups describe "$name" --region="$REGION" "$p")" "$neg_create"
    ensure "$(quote gcloud compute backend-services describe "$name" --global "$p")" \
      "$(quote gcloud compute backend-services create "$name" --global --load-balancing-scheme=EXTERNAL_MANAGED "$p")"
    # A group an earlier deploy.sh made with --cloud-function-name (the 1st-gen type) cannot be
    # changed in place: it is detached (a group in use cannot be deleted), deleted and made again
    # as above; the add-backend below then finds it missing and re-adds it.
    first_gen="$(quote gcloud compute network-endpoint-groups describe "$name" --region="$REGION" "$p" --format='value(cloudFunction.function)') | grep -q ."
    # gcloud joins the groups with ";" on one line.
    holds="$(quote gcloud compute backend-services describe "$name" --global "$p" --format='value(backends[].group)') | $(quote grep -Eq "/networkEndpointGroups/$name(;|\$)")"
    when_found "$first_gen && $holds" \
      "$(quote gcloud compute backend-services remove-backend "$name" --global --network-endpoint-group="$name" \
        --network-endpoint-group-region="$REGION" "$p")"
    when_found "$first_gen" "$(quote gcloud compute network-endpoint-groups delete "$name" --region="$REGION" "$p" --quiet)" \
      "$neg_create"
    ensure "$holds" \
      "$(quote gcloud compute backend-services add-backend "$name" --global --network-endpoint-group="$name" \
        --network-endpoint-group-region="$REGION" "$p")"
    if [ "$name" = "$lb-jwks" ]; then policy="$lb-edge-jwks"; else policy="$lb-edge"; fi
    # Re-applied on every run: the same policy again changes nothing.
    step "$(quote gcloud compute backend-services update "$name" --global --security-policy="$policy" "$p")"
  done

  # The URL map routes by path only; each function answers 405 for a method it does not take.
  # Anything else goes to jwks (public keys, harmless). `import` creates the map or replaces it
  # with this definition, so a changed route applies on the next run.
  url_map="{\"name\":\"$lb\",\"description\":\"token-exchange: the Go service paths on $AUTH_DOMAIN\",\"defaultService\":\"$(backend_url jwks)\",\"hostRules\":[{\"hosts\":[\"$AUTH_DOMAIN\"],\"pathMatcher\":\"go-service-paths\"}],\"pathMatchers\":[{\"name\":\"go-service-paths\",\"defaultService\":\"$(backend_url jwks)\",\"pathRules\":[{\"paths\":[\"/v0/token/integration\"],\"service\":\"$(backend_url integration)\"},{\"paths\":[\"/v0/token/autojoin\"],\"service\":\"$(backend_url autojoin)\"},{\"paths\":[\"/.well-known/jwks.json\",\"/health\"],\"service\":\"$(backend_url jwks)\"}]}]}"
  step "$(quote echo "$url_map") | $(quote gcloud compute url-maps import "$lb" --global "$p" --quiet)"
  # Plain HTTP gets a 308 to HTTPS (308, not 301: a POST stays a POST).
  redirect_map="{\"name\":\"$lb-http-redirect\",\"description\":\"token-exchange: HTTP to HTTPS\",\"defaultUrlRedirect\":{\"httpsRedirect\":true,\"redirectResponseCode\":\"PERMANENT_REDIRECT\"}}"
  step "$(quote echo "$redirect_map") | $(quote gcloud compute url-maps import "$lb-http-redirect" --global "$p" --quiet)"

  # The certificate, issued through a DNS authorization: Google can issue it as soon as the
  # CNAME below exists, while the name still points at the Go service, so the cutover has no
  # TLS gap. Named after the domain: a new AUTH_DOMAIN gets its own certificate.
  ensure "$(quote gcloud certificate-manager dns-authorizations describe "$cert" "$p")" \
    "$(quote gcloud certificate-manager dns-authorizations create "$cert" --domain="$AUTH_DOMAIN" "$p")"
  ensure "$(quote gcloud certificate-manager certificates describe "$cert" "$p")" \
    "$(quote gcloud certificate-manager certificates create "$cert" --domains="$AUTH_DOMAIN" --dns-authorizations="$cert" "$p")"
  ensure "$(quote gcloud certificate-manager maps describe "$lb" "$p")" \
    "$(quote gcloud certificate-manager maps create "$lb" "$p")"
  ensure "$(quote gcloud certificate-manager maps entries describe "$cert" --map="$lb" "$p")" \
    "$(quote gcloud certificate-manager maps entries create "$cert" --map="$lb" --certificates="$cert" --hostname="$AUTH_DOMAIN" "$p")"

  # One global IPv4 address for both forwarding rules: 443 to the functions, 80 to the redirect.
  ensure "$(quote gcloud compute addresses describe "$lb-ip" --global "$p")" \
    "$(quote gcloud compute addresses create "$lb-ip" --global --ip-version=IPV4 "$p")"
  ensure "$(quote gcloud compute target-https-proxies describe "$lb-https" --global "$p")" \
    "$(quote gcloud compute target-https-proxies create "$lb-https" --global --url-map="$lb" --certificate-map="$lb" "$p")"
  ensure "$(quote gcloud compute target-http-proxies describe "$lb-http" --global "$p")" \
    "$(quote gcloud compute target-http-proxies create "$lb-http" --global --url-map="$lb-http-redirect" "$p")"
  ensure "$(quote gcloud compute forwarding-rules describe "$lb-https" --global "$p")" \
    "$(quote gcloud compute forwarding-rules create "$lb-https" --global --load-balancing-scheme=EXTERNAL_MANAGED \
      --address="$lb-ip" --target-https-proxy="$lb-https" --ports=443 "$p")"
  ensure "$(quote gcloud compute forwarding-rules describe "$lb-http" --global "$p")" \
    "$(quote gcloud compute forwarding-rules create "$lb-http" --global --load-balancing-scheme=EXTERNAL_MANAGED \
      --address="$lb-ip" --target-http-proxy="$lb-http" --ports=80 "$p")"

  # What the operator does next, in order (the README's "Cutover from the Go service").
  step "$(quote gcloud certificate-manager dns-authorizations describe "$cert" "$p" \
    --format='table[title="DNS first: add this CNAME record (the certificate is issued once it resolves)"](dnsResourceRecord.name,dnsResourceRecord.type,dnsResourceRecord.data)')"
  step "$(quote gcloud certificate-manager certificates describe "$cert" "$p" \
    --format='table[title="Certificate: wait until ACTIVE before moving the A record"](name.basename(),managed.state)')"
  step "$(quote gcloud compute addresses describe "$lb-ip" --global "$p" \
    --format="table[title=\"DNS then: point $AUTH_DOMAIN (A record) at this address\"](address)")"
  step "$(quote echo "front door: https://$AUTH_DOMAIN/v0/token/integration https://$AUTH_DOMAIN/v0/token/autojoin https://$AUTH_DOMAIN/.well-known/jwks.json https://$AUTH_DOMAIN/health")"
  if [ "$INGRESS" = all ]; then
    step "$(quote echo "ingress: all, so the functions' own URLs answer too (and bypass Cloud Armor); once DNS points at the front door and it answers, deploy again with INGRESS=internal-and-gclb")"
  fi
else
  for name in "${functions[@]}"; do
    step "$(quote gcloud functions describe "$name" --gen2 --project="$PROJECT_ID" --region="$REGION" --format='value(serviceConfig.uri)')"
  done
fi

found=false
for entry in "${steps[@]}"; do
  kind="${entry%% *}"
  line="${entry#* }"
  if $dry_run; then
    case "$kind" in
      check) printf '# check: %s\n' "$line" ;;
      update) printf '# when found: %s\n' "$line" ;;
      require) printf '# else stop: %s\n' "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
    continue
  fi
  if ! ${checked:-false} && [ "$kind" != check ] && [ "$kind" != require ] && [ "$line" != "npm run build" ]; then
    # After the preflight and the build, before the first change: every bundle must be there.
    for name in "${functions[@]}"; do
      [ -f "dist/$name/index.js" ] || fail "dist/$name/index.js is missing: run npm run build (or drop --skip-build)"
    done
    checked=true
  fi
  case "$kind" in
    check)
      # Not found (or not readable): the create that follows runs, and says why if it fails;
      # or, in the preflight, the deploy stops naming what to fix.
      if eval "$line" >/dev/null 2>&1; then found=true; else found=false; fi
      continue ;;
    require) if $found; then continue; else fail "$line"; fi ;;
    create) if $found; then continue; fi ;;
    update) if ! $found; then continue; fi ;;
  esac
  echo "+ $line" >&2
  eval "$line"
done
