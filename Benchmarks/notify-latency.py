#!/usr/bin/env python3
"""How soon `authdoctor check --notify` announces a state change (issue 17 target: within 1 s).

Usage: Benchmarks/notify-latency.py [BIN] [RUNS]   (BIN default .build/debug/authdoctor, RUNS 10)

Everything is on loopback: the in-process Sandbox (`--sandbox`) answers the provider, a small HTTP
receiver here records the arrival of each POST. Each run flips one connection between a healthy
and an expired token, so every run sees a state change. Per run it measures, with one clock:
  verdict→POST  from the moment `check --format jsonl` printed the connection's report to the
                moment the receiver got the notification (negative: the POST came first);
  start→POST    from starting the process to the POST;
  POST→exit     from the POST to the process exit (how much of the run was left).
The signature of every POST is checked (HMAC-SHA256 under the secret).
"""
import hashlib, hmac, http.server, json, os, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/authdoctor"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SECRET = "bench-notify-secret"
arrivals = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        at = time.monotonic()
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        arrivals.append((at, json.loads(body), self.headers.get("X-Authdoctor-Signature") == want))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hook"

work = tempfile.mkdtemp(prefix="notify-latency-")
conns = os.path.join(work, "conns.yaml")
with open(conns, "w") as f:
    f.write('connections:\n  - name: shop-fb\n    provider: facebook\n    token-env: FB_TOKEN\n'
            '    client-id: "5550001112223"\n    client-secret-env: FB_SECRET\n')
env = dict(os.environ, AUTHDOCTOR_KEY="00" * 32, AUTHDOCTOR_NOTIFY_SECRET=SECRET, FB_SECRET="sbx-fb-app-secret")
env.pop("AUTHDOCTOR_DB", None)
args = [BIN, "check", "--connections", conns, "--sandbox", "--db", os.path.join(work, "s.sqlite"),
        "--notify", url, "--format", "jsonl", "--retries", "0"]

rows = []
for run in range(RUNS + 1):
    env["FB_TOKEN"] = "sbx-fb-expired" if run % 2 == 0 else "sbx-fb-healthy"
    before = len(arrivals)
    start = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = None
    for line in proc.stdout:
        if printed is None and line.strip():
            printed = time.monotonic()
    proc.wait()
    end = time.monotonic()
    stderr = proc.stderr.read()
    if len(arrivals) != before + 1:
        sys.exit(f"run {run}: expected one POST, got {len(arrivals) - before}; exit {proc.returncode}; stderr: {stderr}")
    at, body, signed = arrivals[-1]
    if not signed:
        sys.exit(f"run {run}: bad signature")
    if run == 0:
        continue  # the first run also creates the store: not counted
    rows.append((at - printed, at - start, end - at, body["oldStatus"], body["newStatus"]))

print(f"{'run':>3}  {'change':<18} {'verdict→POST':>13} {'start→POST':>11} {'POST→exit':>10}")
for i, (v, s, e, old, new) in enumerate(rows, 1):
    print(f"{i:>3}  {old + ' → ' + new:<18} {v * 1000:>10.1f} ms {s * 1000:>8.1f} ms {e * 1000:>7.1f} ms")
worst = max(r[0] for r in rows)
median = sorted(r[0] for r in rows)[len(rows) // 2]
print(f"verdict→POST: median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms over {len(rows)} changes "
      f"({'within' if worst < 1 else 'NOT within'} the 1 s target)")
server.shutdown()
