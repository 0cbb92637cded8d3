#!/usr/bin/env bash
# `authdoctor check` over N healthy Facebook connections (4 Graph API probes each) against an nginx
# stand-in on 127.0.0.1, for several N: wall time, probes/s and peak RSS, to show the cost grows
# linearly. Each size runs REPEAT times; the median is printed.
# usage: Benchmarks/check-curve.sh [BIN=.build-static/release/authdoctor] [SIZES="1000 10000 50000"] [REPEAT=3] [FORMAT=jsonl]
# needs nginx (apt-get install -y nginx-light) and GNU time.
set -eo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build-static/release/authdoctor}; sizes=${2:-"1000 10000 50000"}; repeat=${3:-3}; format=${4:-jsonl}
command -v nginx >/dev/null || { echo "check-curve: needs nginx (apt-get install -y nginx-light)"; exit 1; }
d=$(mktemp -d); port=$((20000 + RANDOM % 20000)); now=$(date +%s)
cat > "$d/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $d/nginx.pid; error_log $d/error.log;
events { worker_connections 8192; }
http {
  access_log off; client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
  default_type application/json; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port;
    location ~ /debug_token\$ { return 200 '{"data":{"app_id":"5550001112223","type":"USER","application":"Acme Reports","is_valid":true,"expires_at":$((now+40*86400)),"data_access_expires_at":$((now+80*86400)),"scopes":["ads_read","ads_management","business_management","public_profile"],"user_id":"10229384756"}}'; }
    location ~ /permissions\$ { return 200 '{"data":[{"permission":"public_profile","status":"granted"},{"permission":"ads_read","status":"granted"},{"permission":"ads_management","status":"granted"},{"permission":"business_management","status":"granted"}]}'; }
    location ~ /adaccounts\$ { return 200 '{"data":[{"account_id":"123456789","id":"act_123456789","name":"Acme EU"}],"paging":{}}'; }
    location / { return 200 '{"id":"10229384756","name":"Acme Ops"}'; }
  }
}
CONF
nginx -c "$d/nginx.conf" & pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$d"' EXIT
for _ in $(seq 20); do curl -sf "http://127.0.0.1:$port/me" >/dev/null && break; sleep 0.2; done
# A stand-in that did not start (the random port taken) would time every run against refusals.
curl -sf "http://127.0.0.1:$port/me" >/dev/null || { echo "check-curve: nginx is not answering on port $port:"; cat "$d/error.log"; exit 1; }
export T_OK=tok-ok FB_SECRET=appsecret
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); format $format, concurrency 64, median of $repeat"
printf '%8s %8s %9s %11s %9s %12s\n' connections probes wall_s probes_per_s peak_MB us_per_conn
for n in $sizes; do
  { echo "connections:"; for i in $(seq "$n"); do printf '  - name: c%s\n    provider: facebook\n    token-env: T_OK\n    client-id: "5550001112223"\n    client-secret-env: FB_SECRET\n    base-url: {facebook: "http://127.0.0.1:%s"}\n' "$i" "$port"; done; } > "$d/conns.yaml"
  : > "$d/times"
  for _ in $(seq "$repeat"); do
    # A run that is not all OK (exit status not 0) is said, and its time still counts.
    /usr/bin/time -f '%e %M %x' -a -o "$d/times" "$bin" check --connections "$d/conns.yaml" --concurrency 64 --format "$format" >/dev/null || true
  done
  grep -E '^[0-9]' "$d/times" | sort -n | awk -v n="$n" -v r="$repeat" '$3 != 0 { bad++ } { t[NR] = $1; m[NR] = $2 }
    END { i = int((NR + 1) / 2); printf "%8d %8d %9.2f %11.0f %9.0f %12.0f%s\n", n, 4 * n, t[i], 4 * n / t[i], m[i] / 1024, t[i] * 1e6 / n,
          bad ? sprintf("   (%d of %d runs exited non-zero)", bad, NR) : "" }'
done
