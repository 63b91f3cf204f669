#!/usr/bin/env bash
# The stand-in gcloud of the deploy tests (test/support/deployScript.ts puts it on the PATH as
# `gcloud`). It records each call in $GCLOUD_LOG (its words, and what it read on stdin) and keeps,
# under $GCLOUD_STATE, the project the calls made: a folder per resource (<group>/<name>, with
# @<parent> for a security-policy rule, a certificate map entry or a secret version) holding a
# file per setting it was given (flag--<name>), per field a describe can print (<field>, e.g.
# cloudFunction.function) and per network endpoint group a backend service holds
# (backend:<group>). Like the API, it refuses to create what exists, to change or delete what
# does not, to add a backend twice, to delete a group a backend service holds, and a serverless
# group without a target. Alert policies, which Monitoring numbers itself, it keeps under their
# user label token_exchange_alert (what a deploy finds them by), named
# projects/<project>/alertPolicies/<label>, each with one condition, …/conditions/1; it refuses a
# create naming a condition, and an update not naming that one (Monitoring would replace the
# condition). With GCLOUD_METRICS_LAG=<n>, the first n policy creates of a run fail as Monitoring
# answers while it does not yet know a new log-based metric. Builtins only where it can (bar cat,
# base64 and grep for the few calls that read stdin or count): it runs about a hundred times a
# deploy.
raw=
if [[ " $* " == *" --config-from-file=- "* || " $* " == *" --policy-from-file=- "* || "$2 $3" == "url-maps import" ]]; then raw="$(cat; echo .)"; raw="${raw%.}"; fi
entry=; for a in "$@"; do entry+="$a"$'\x1f'; done
stdin=; if [ -n "$raw" ]; then stdin="$(printf %s "$raw" | base64 -w0)"; fi
# One write: concurrent calls in a pipeline do not interleave.
printf '%sstdin=%s\n' "$entry" "$stdin" >> "$GCLOUD_LOG"

args=("$@")
for ((i = 0; i < $#; i++)); do
  case "${args[i]}" in create|update|import|add-backend|remove-backend|deploy|describe|delete|list) break ;; esac
done
verb="${args[i]}"
group="${args[*]:0:i}"
name=
flags=()
for a in "${args[@]:i+1}"; do
  if [[ "$a" == --* ]]; then flags+=("$a"); elif [ -z "$name" ]; then name="$a"; fi
done
flag() { local f; for f in "${flags[@]}"; do if [[ "$f" == "--$1="* ]]; then printf '%s' "${f#*=}"; return 0; fi; done; return 1; }
case "$group $verb" in
  "monitoring dashboards create") if [[ "$raw" =~ \"name\":\ \"[^\"]*/([^\"/]+)\" ]]; then name="${BASH_REMATCH[1]}"; fi ;;
  "alpha monitoring policies create")
    name=; if [[ "$raw" =~ \"token_exchange_alert\":\ \"([a-z0-9_]+)\" ]]; then name="${BASH_REMATCH[1]}"; fi ;;
  "alpha monitoring policies list") name="$(flag filter)"; name="${name#userLabels.token_exchange_alert=}" ;;
  "alpha monitoring policies update") name="${name##*/}" ;;
  "firestore databases "*) name="$(flag database)" ;;
  *" list") name="$(flag filter)"; name="${name#name=}" ;;
esac
case "$group" in
  "compute security-policies rules") name+="@$(flag security-policy)" ;;
  "certificate-manager maps entries") name+="@$(flag map)" ;;
  "secrets versions") name+="@$(flag secret)" ;;
esac
res="$GCLOUD_STATE/${group// /_}/$name"
fail() { echo "ERROR: (stand-in gcloud $group $verb) $*" >&2; exit 1; }
policy() { printf 'projects/%s/alertPolicies/%s' "$(flag project)" "$1"; }

settings() {
  local f key
  for f in "${flags[@]}"; do
    key="${f%%=*}"
    case "$key" in --project|--quiet|--format) continue ;; esac
    if [[ "$f" == *=* ]]; then printf '%s' "${f#*=}" > "$res/flag$key"; else : > "$res/flag$key"; fi
  done
  if [ -n "$raw" ]; then
    # The etag an update carries is no setting of the dashboard.
    if [[ "$raw" =~ ^(.*)\"etag\":\ \"[^\"]*\",\ (.*)$ ]]; then raw="${BASH_REMATCH[1]}${BASH_REMATCH[2]}"; fi
    printf '%s' "$raw" > "$res/stdin"
  fi
  if [ "$group" = "compute network-endpoint-groups" ]; then
    rm -f "$res/cloudFunction.function" "$res/cloudRun.service"
    if flag cloud-function-name > /dev/null; then flag cloud-function-name > "$res/cloudFunction.function"; fi
    if flag cloud-run-service > /dev/null; then flag cloud-run-service > "$res/cloudRun.service"; fi
  fi
}

case "$verb" in
  describe)
    [ -d "$res" ] || fail "NOT_FOUND: $name"
    format="$(flag format)"
    case "$format" in
      "value(etag)") echo etag-from-describe ;;
      "value(serviceConfig.service.basename())") echo "${name,,}" ;;
      "value(backends[].group)")
        groups=
        for b in "$res"/backend:*; do
          if [ -e "$b" ]; then groups+="${groups:+;}https://www.googleapis.com/compute/v1/projects/p/regions/r/networkEndpointGroups/${b##*backend:}"; fi
        done
        if [ -n "$groups" ]; then echo "$groups"; fi ;;
      value\(*\))
        field="${format#value(}"; field="${field%)}"
        if [ -f "$res/$field" ]; then echo "$(< "$res/$field")"; fi ;;
    esac ;;
  list)
    if [ "$group" != "alpha monitoring policies" ]; then
      if [ -d "$res" ]; then echo "${name%@*}"; fi
    elif [ -z "$name" ]; then
      for r in "$GCLOUD_STATE/alpha_monitoring_policies"/*; do if [ -d "$r" ]; then policy "${r##*/}"; echo; fi; done
    elif [ -d "$res" ]; then
      case "$(flag format)" in
        "value(name)") policy "$name"; echo ;;
        "value(conditions[0].name)") policy "$name"; echo /conditions/1 ;;
        *) fail "no stand-in for --format=$(flag format)" ;;
      esac
    fi ;;
  create)
    if [ "$group" = "alpha monitoring policies" ]; then
      [ -n "$name" ] || fail "a policy without the user label token_exchange_alert: no deploy could find it again"
      [[ "$raw" == *'"name": '* ]] && fail "INVALID_ARGUMENT: a new policy names no condition"
      if [ -n "${GCLOUD_METRICS_LAG:-}" ] \
        && [ "$(grep -c "^alpha"$'\x1f'"monitoring"$'\x1f'"policies"$'\x1f'"create"$'\x1f' "$GCLOUD_LOG")" -le "$GCLOUD_METRICS_LAG" ]; then
        fail "NOT_FOUND: Cannot find metric(s) that match type = \"logging.googleapis.com/user/token_exchange_requests\". If a metric was created recently, it could take up to 10 minutes to become available. Please try again soon."
      fi
    fi
    [ -d "$res" ] && fail "ALREADY_EXISTS: $name"
    if [ "$group" = "compute network-endpoint-groups" ] && [ -z "$(flag cloud-run-service)$(flag cloud-function-name)" ]; then
      fail "a serverless network endpoint group needs a Cloud Run service or a function"
    fi
    mkdir -p "$res"; settings ;;
  import|deploy) rm -rf "$res"; mkdir -p "$res"; settings ;;
  update)
    [ -d "$res" ] || fail "NOT_FOUND: $name"
    if [ "$group" = "alpha monitoring policies" ]; then
      condition="$(policy "$name")/conditions/1"
      [[ "$raw" =~ ^(.*)\"name\":\ \"([^\"]*)\",\ (.*)$ ]] && [ "${BASH_REMATCH[2]}" = "$condition" ] \
        || fail "the update does not name the condition $condition: Monitoring would delete it and make another"
      # Its name is no setting of the policy.
      raw="${BASH_REMATCH[1]}${BASH_REMATCH[3]}"
    fi
    settings ;;
  add-backend)
    neg="$(flag network-endpoint-group)"
    [ -d "$res" ] || fail "NOT_FOUND: $name"
    [ -d "$GCLOUD_STATE/compute_network-endpoint-groups/$neg" ] || fail "NOT_FOUND: network endpoint group $neg"
    [ -e "$res/backend:$neg" ] && fail "$neg is already a backend of $name"
    : > "$res/backend:$neg" ;;
  remove-backend)
    neg="$(flag network-endpoint-group)"
    [ -e "$res/backend:$neg" ] || fail "$neg is not a backend of $name"
    rm "$res/backend:$neg" ;;
  delete)
    [ -d "$res" ] || fail "NOT_FOUND: $name"
    for b in "$GCLOUD_STATE"/compute_backend-services/*/"backend:$name"; do
      if [ "$group" = "compute network-endpoint-groups" ] && [ -e "$b" ]; then fail "$name is in use by a backend service"; fi
    done
    rm -rf "$res" ;;
esac
exit 0
