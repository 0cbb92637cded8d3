#!/usr/bin/env bash
# Runs every benchmark of the project and prints the figures quoted in closing notes.
# usage: Benchmarks/run.sh [RECORDS=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
make --no-print-directory release >/dev/null
bin=.build-static/release/authdoctor
bench=.build-static/release/authdoctor-bench
echo "machine: $(nproc) cores, $(uname -srm)"
# Footprint: as built, and as make install puts it (stripped).
command -v strip >/dev/null || { echo "footprint: needs strip (binutils)"; exit 1; }
for name in authdoctor authdoctor-serve; do
  stripped=$(mktemp)
  strip -o "$stripped" ".build-static/release/$name"
  echo "binary $name: $(( $(stat -c %s ".build-static/release/$name") / 1000000 )) MB, $(( $(stat -c %s "$stripped") / 1000000 )) MB stripped"
  rm -f "$stripped"
done
"$bench" rules 20
"$bench" oneshot "$bin" 30
"$bench" diagnose "$bin" 30 100
"$bench" batch "$n" 1
"$bench" batch "$n" "$(nproc)"
"$bench" batch "$n" "$(nproc)" repeating-no-memo
"$bench" batch "$n" "$(nproc)" unique
"$bench" batch "$n" "$(nproc)" unique-no-memo
"$bench" links 10000
"$bench" serve 32 20000
"$bench" console 10000 10 30
if [ -x ../shared/bench/batch-vs-jq.sh ] || [ -f ../shared/bench/batch-vs-jq.sh ]; then
  command -v jq >/dev/null || { echo "batch-vs-jq: needs jq (make deps-bench)"; exit 0; }
  bash ../shared/bench/batch-vs-jq.sh "$bin" "$n"
fi
if command -v nginx >/dev/null; then
  bash Benchmarks/check-curve.sh "$bin" "1000 10000 50000" 3 jsonl
  [ -f ../shared/bench/check-vs-curl.sh ] && bash ../shared/bench/check-vs-curl.sh "$bin" 10000
else
  echo "check-curve: needs nginx (make deps-bench)"
fi
