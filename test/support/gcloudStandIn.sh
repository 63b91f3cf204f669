#!/usr/bin/env bash
# The stand-in gcloud of the deploy tests (test/support/deployScript.ts puts it on the PATH as
# `gcloud`). It records each call in $GCLOUD_LOG (its words, and what it read on stdin) and keeps,
# under $GCLOUD_STATE, the project the calls made: a folder per resource (<group>/<name>, with
# @<parent> for a security-policy rule, a certificate map entry or a secret version) holding a
# file per setting it was given (flag--<name>), per field a describe can print (<field>, e.g.
# cloudFunction.function) and per network endpoint group a backend service holds
# (backend:<group>). Like the API, it refuses to create what exists, to change or delete what
# does not, to add a backend twice, to delete a group a backend service holds, and a serverless
# group without a target. Builtins only where it can (bar cat and base64 for the few calls that
# read stdin): it runs about a hundred times a deploy.
raw=
if [[ " $* " == *" --config-from-file=- "* || "$2 $3" == "url-maps import" ]]; then raw="$(cat; echo .)"; raw="${raw%.}"; fi
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
  list) if [ -d "$res" ]; then echo "${name%@*}"; fi ;;
  create)
    [ -d "$res" ] && fail "ALREADY_EXISTS: $name"
    if [ "$group" = "compute network-endpoint-groups" ] && [ -z "$(flag cloud-run-service)$(flag cloud-function-name)" ]; then
      fail "a serverless network endpoint group needs a Cloud Run service or a function"
    fi
    mkdir -p "$res"; settings ;;
  import|deploy) rm -rf "$res"; mkdir -p "$res"; settings ;;
  update) [ -d "$res" ] || fail "NOT_FOUND: $name"; settings ;;
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
