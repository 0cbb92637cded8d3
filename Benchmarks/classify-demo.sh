#!/usr/bin/env bash
# The README's "see it work" run: classify real-shaped provider answers from fixtures/ and show, for
# each, the verdict authdoctor reaches and the first thing to do; then one full report, and a batch.
set -euo pipefail
bin=${1:-.build/debug/authdoctor}
cd "$(dirname "$0")/.."
cases=(
  "facebook/190-463-session-expired.http"
  "facebook/190-458-app-not-authorized.http"
  "google/token-invalid-grant-expired-or-revoked.http"
  "google-ads/403-user-permission-denied.http"
  "google-sheets/403-scope-insufficient.http"
  "bigquery/403-access-denied-tables-create.http"
  "hubspot/403-missing-scopes-granular.http"
  "linkedin/401-65601-revoked-by-user.http"
  "snowflake/login-390422-ip-not-allowed.http"
  "looker-studio/connector-authorize-two-accounts-400.har"
  "oauth2/bearer-invalid-token-expired.http"
  "generic/429-retry-after.http"
  "generic/503-maintenance.http"
  "transport/curl-60-self-signed.txt"
  "postgres/28000-no-pg-hba-entry.txt"
  "platform-api/402-account-expired.http"
)
printf '%-58s %-15s %-14s %s\n' "EVIDENCE (fixtures/)" "FAILURE" "WHO ACTS" "FIRST STEP"
for c in "${cases[@]}"; do
  f="fixtures/$c"
  case "$f" in
    *.har) flag=--har ;; *.txt) flag=--text ;; *) flag=--response ;;
  esac
  if [ "$flag" = --text ]; then line=$("$bin" classify --text "$(cat "$f")" --format brief); else line=$("$bin" classify $flag "$f" --format brief); fi
  IFS=$'\t' read -r failure category actor rule step <<<"$line"
  printf '%-58s %-15s %-14s %s\n' "$c" "$failure" "$actor" "$step"
done
echo
echo "One full report (what a support engineer sees):"
echo
"$bin" classify --response fixtures/facebook/190-463-session-expired.http
echo "A batch of records, one JSON verdict per line (first two shown):"
printf '%s\n' \
  '{"id":"t1","provider":"google","status":401,"body":"{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\",\"message\":\"Request had invalid authentication credentials.\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"ACCESS_TOKEN_EXPIRED\"}]}}"}' \
  '{"id":"t2","curl_exit":6,"text":"curl: (6) Could not resolve host: api.example.invalid"}' \
  | "$bin" classify --batch - --format jsonl | cut -c1-220
