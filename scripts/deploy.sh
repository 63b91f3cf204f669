#!/usr/bin/env bash
# Builds the three Cloud Functions and deploys them with gcloud (2nd gen, nodejs24), then
# creates or updates the log-based metrics made from their log lines.
#
#   scripts/deploy.sh [--dry-run] [--skip-build] [--help]
#
# --dry-run     print every command, one per line, exactly as it would run; run nothing
#               (needs neither gcloud credentials nor a build)
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
#   THROTTLE_MAX_FAILURES, THROTTLE_WINDOW_SECONDS, BCRYPT_CONCURRENCY, JWKS_REFRESH_SECONDS,
#   SIGNING_KEY_REFRESH_SECONDS:
#                         passed to the functions when set (the README's Configuration table)
#   BUILD_SERVICE_ACCOUNT [unset] Cloud Build's identity for the builds (email)
#   METRIC_PREFIX         [token_exchange] names of the log-based metrics
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

cd "$(dirname "$0")/.."

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

case "$SERVICE_ACCOUNT" in
  *@*) ;;
  *) SERVICE_ACCOUNT="$SERVICE_ACCOUNT@$PROJECT_ID.iam.gserviceaccount.com" ;;
esac
case "$SIGNING_KEY_SECRET" in
  projects/*) ;;
  *) SIGNING_KEY_SECRET="projects/$PROJECT_ID/secrets/$SIGNING_KEY_SECRET" ;;
esac
[[ "$SIGNING_KEY_SECRET" =~ ^projects/[^/[:space:]]+/secrets/[A-Za-z0-9_-]+$ ]] \
  || fail "SIGNING_KEY_SECRET must look like projects/<project>/secrets/<name>, got $SIGNING_KEY_SECRET"
[[ "$PROJECT_ID" =~ ^[a-z][a-z0-9.:-]*[a-z0-9]$ ]] || fail "PROJECT_ID is not a project id: $PROJECT_ID"
[[ "$METRIC_PREFIX" =~ ^[A-Za-z0-9_]+$ ]] || fail "METRIC_PREFIX may hold only A-Z a-z 0-9 _, got $METRIC_PREFIX"

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
for name in INTEGRATION_TOKEN_TTL AUTOJOIN_TOKEN_TTL DATASTORE_TIMEOUT_MS VERIFIED_SECRET_CACHE_SIZE \
  THROTTLE_MAX_FAILURES THROTTLE_WINDOW_SECONDS BCRYPT_CONCURRENCY JWKS_REFRESH_SECONDS SIGNING_KEY_REFRESH_SECONDS; do
  if [ -n "${!name:-}" ]; then add_env "$name" "${!name}"; fi
done

# Every setting is checked before anything runs; then the commands run one by one, each a
# line of shell that --dry-run prints instead, so what the dry run shows is exactly what runs.
steps=()
step() { steps+=("$1"); }
quote() {
  local out='' word
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="${out:+ }$word"
    else out+="${out:+ }'${word//\'/\'\\\'\'}'"; fi
  done
  printf '%s' "$out"
}

if $build; then step "$(quote npm run build)"; fi

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
  args+=(--memory="$memory" --cpu="$cpu" --concurrency="$concurrency"
    --min-instances="$min" --max-instances="$max"
    --allow-unauthenticated --ingress-settings=all --set-env-vars="$env_vars" --quiet)
  step "$(quote "${args[@]}")"
}

deploy exchangeIntegration INTEGRATION 512Mi 1 16 1 100
deploy exchangeAutojoin AUTOJOIN 512Mi 1 16 0 20
deploy jwks JWKS 256Mi 1 80 0 20

# Log-based metrics (what the Go service's Prometheus gave): created, or updated if present.
for metric in requests latency; do
  name="${METRIC_PREFIX}_$metric"
  file="scripts/metrics/token_exchange_$metric.json"
  target="$(quote "$name" --project="$PROJECT_ID" --config-from-file="$file")"
  step "if gcloud logging metrics describe $(quote "$name" --project="$PROJECT_ID") >/dev/null 2>&1; then gcloud logging metrics update $target; else gcloud logging metrics create $target; fi"
done

for name in exchangeIntegration exchangeAutojoin jwks; do
  step "$(quote gcloud functions describe "$name" --gen2 --project="$PROJECT_ID" --region="$REGION" --format='value(serviceConfig.uri)')"
done

for line in "${steps[@]}"; do
  if $dry_run; then
    printf '%s\n' "$line"
  else
    if [[ "$line" == "gcloud functions deploy "* ]] && ! ${checked:-false}; then
      # After the build, before the first deploy: every bundle must be there.
      for name in exchangeIntegration exchangeAutojoin jwks; do
        [ -f "dist/$name/index.js" ] || fail "dist/$name/index.js is missing: run npm run build (or drop --skip-build)"
      done
      checked=true
    fi
    echo "+ $line" >&2
    eval "$line"
  fi
done
