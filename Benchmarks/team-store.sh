#!/usr/bin/env bash
# Issue 16's targets, on a throwaway PostgreSQL on 127.0.0.1 (scripts/pg-test-server.sh):
#   - link lifecycles (issue + open + connect + finish) per second on PostgreSQL (target >= 1,000/s on 2 cores);
#   - `check` over N Sandbox connections: 1 worker, 2 `--shard` workers, 1 and 2 `--claim` workers (2 no slower than 1);
#   - `store copy` of COPY connections from SQLite to PostgreSQL (target <= 30 s for 100,000).
# usage: Benchmarks/team-store.sh [BIN=.build-static/release/authdoctor] [BENCH=.build-static/release/authdoctor-bench] [N=10000] [COPY=100000] [THREADS=8]
# needs the postgresql package (initdb, pg_ctl, psql); loopback only.
set -eo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build-static/release/authdoctor}; bench=${2:-.build-static/release/authdoctor-bench}
n=${3:-10000}; copy=${4:-100000}; threads=${5:-8}
pgenv=$(bash scripts/pg-test-server.sh start); eval "$pgenv"
d=$(mktemp -d)
trap 'bash scripts/pg-test-server.sh stop "$PGTEST_DIR" >/dev/null 2>&1 || true; rm -rf "$d"' EXIT
export PGPASSWORD=$PGTEST_STORE_PASSWORD AUTHDOCTOR_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') AUTHDOCTOR_DB=
base="postgres://storeowner@127.0.0.1:$PGTEST_PORT"
# A new empty database; its URL (the password stays in PGPASSWORD).
newdb() { psql -h 127.0.0.1 -p "$PGTEST_PORT" -U storeowner -d authdoctor_store -qc "CREATE DATABASE $1" >/dev/null; echo "$base/$1?sslmode=disable"; }
clock() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(clock)" 'BEGIN { printf "%.2f", b - a }'; }
echo "machine: $(nproc) cores, $(uname -srm), load $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $(psql --version | awk '{print $3}')"

"$bench" links-pg "$(newdb bench_links)" 10000 "$threads"

{ echo "connections:"; for i in $(seq "$n"); do printf '  - name: c%s\n    provider: google\n    token-env: G_TOKEN\n' "$i"; done; } > "$d/conns.yaml"
export G_TOKEN=sbx-google-healthy
common=(check --connections "$d/conns.yaml" --sandbox --format jsonl --concurrency 64 --retries 0)
count() { cat "$@" | grep -c '"id"' || true; }
t=$(clock); "$bin" "${common[@]}" > "$d/one.jsonl" || true; one=$(since "$t")
echo "check: $n connections, 1 worker: $one s ($(count "$d/one.jsonl") reports)"
t=$(clock)
"$bin" "${common[@]}" --shard 1/2 > "$d/s1.jsonl" & a=$!
"$bin" "${common[@]}" --shard 2/2 > "$d/s2.jsonl" & b=$!
wait $a || true; wait $b || true
echo "check: $n connections, 2 --shard workers at once: $(since "$t") s ($(count "$d/s1.jsonl") + $(count "$d/s2.jsonl") reports)"
url=$(newdb bench_claims)
"$bin" store migrate --db "$url" >/dev/null
t=$(clock); "$bin" "${common[@]}" --db "$url" --claim --round one > "$d/c0.jsonl" || true
echo "check: $n connections, 1 --claim worker (history on PostgreSQL): $(since "$t") s ($(count "$d/c0.jsonl") reports)"
t=$(clock)
"$bin" "${common[@]}" --db "$url" --claim --round two > "$d/c1.jsonl" & a=$!
"$bin" "${common[@]}" --db "$url" --claim --round two > "$d/c2.jsonl" & b=$!
wait $a || true; wait $b || true
echo "check: $n connections, 2 --claim workers at once: $(since "$t") s ($(count "$d/c1.jsonl") + $(count "$d/c2.jsonl") reports;" \
     "verdicts recorded in round two: $(psql -h 127.0.0.1 -p "$PGTEST_PORT" -U storeowner -d bench_claims -tAc "SELECT COUNT(*) FROM check_claims WHERE round = 'two' AND done_at IS NOT NULL"))"

"$bench" store-fill "$d/fill.sqlite" "$copy"
to=$(newdb bench_copy)
t=$(clock); "$bin" store copy --from "$d/fill.sqlite" --to "$to" > "$d/copy.txt"
echo "store copy: $copy connections (+ links, sessions, verdicts) SQLite -> PostgreSQL in $(since "$t") s: $(head -1 "$d/copy.txt")"
t=$(clock); "$bin" store copy --from "$to" --to "$d/back.sqlite" > "$d/back.txt"
echo "store copy: back PostgreSQL -> SQLite in $(since "$t") s"
