#!/usr/bin/env python3
"""Runs every command of README.md's ```sh blocks verbatim, as a reader would from the repository
root, and fails when one of them is refused (bad usage or input: exit 64, 65, 78; a missing file:
66), crashes (a signal), or hangs. Verdict statuses (0-3: healthy, warnings, a failure found,
could not tell) are what the commands are for, and pass.

    python3 scripts/readme-commands.py BINARY [README]

Loopback only: a command that would reach the internet (a `diagnose` or `check` of a real
provider, a `curl` to another host) or that runs until Ctrl-C (`serve`, `sandbox --port`, a
background `&`) is not run; it is listed as SKIPPED with the reason. The commands run in a scratch
folder that links the repository's examples/, fixtures/, rules/ and schema/ (so relative paths work
as written and nothing is written into the checkout), with authdoctor (BINARY) first on PATH and
HOME/XDG folders of their own.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(readme):
    """(line number, command) for each command of the ```sh blocks; continuation lines joined."""
    out, in_block, pending, start = [], False, "", 0
    for number, line in enumerate(open(readme, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("```"):
            in_block = line.strip() == "```sh"
            continue
        if not in_block:
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append((start, pending + stripped))
        pending = ""
    return out


def skip_reason(command):
    words = command.split()
    text = re.sub(r"\s+#.*$", "", command)
    if words[0] == "make":
        return "a make target (make runs it)"
    if words[0] in ("xdg-open", "open"):
        return "opens a browser"
    if text.rstrip().endswith("&"):
        return "starts a server in the background (the link flow is tested by Tests/browser/link_flow_test.py)"
    if "authdoctor-bench" in text:
        return "long-running fuzzing (make test runs a minute of it)"
    if re.search(r"(^|[|;&(]\s*)curl\s", text):
        hosts = re.findall(r"https?://([^/:'\"\s]+)", text)
        if any(h not in ("127.0.0.1", "localhost", "[::1]") for h in hosts):
            return "reaches the internet (curl to " + ", ".join(sorted(set(hosts))) + ")"
        return "needs `authdoctor sandbox --port 8080` running"
    # A team's PostgreSQL server: never looked up from a test (loopback only).
    pg_hosts = re.findall(r"postgres(?:ql)?://(?:[^@/\s'\"]*@)?([^:/?\s'\"]+)", text)
    if any(h not in ("127.0.0.1", "localhost", "[::1]") for h in pg_hosts) or "$AUTHDOCTOR_DB" in text:
        return "needs the team's PostgreSQL server (" + ", ".join(sorted(set(pg_hosts))or ["$AUTHDOCTOR_DB"]) + ")"
    if "$OLD" in text:
        return "needs the store's current key in $OLD"
    m = re.search(r"\bauthdoctor\s+(\S+)", text)
    if not m:
        return None
    sub = m.group(1)
    if sub == "serve" or (sub == "sandbox" and "--port" in text):
        return "runs until Ctrl-C"
    if sub == "diagnose" and "--sandbox" not in text and "--link" not in text and "looker-studio" not in text:
        return "probes a real provider (network)"
    if sub == "check" and "--sandbox" not in text:
        return "probes the real providers (network)"
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: readme-commands.py BINARY [README]")
    binary = os.path.abspath(sys.argv[1])
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "README.md")
    work = tempfile.mkdtemp(prefix="authdoctor-readme-")
    try:
        bin_dir = os.path.join(work, "bin")
        home = os.path.join(work, "home")
        repo = os.path.join(work, "repo")
        for d in (bin_dir, home, repo):
            os.makedirs(d)
        os.symlink(binary, os.path.join(bin_dir, "authdoctor"))
        for name in ("examples", "fixtures", "rules", "schema", "README.md"):
            os.symlink(os.path.join(ROOT, name), os.path.join(repo, name))
        env = {
            "PATH": bin_dir + ":/usr/bin:/bin",
            "HOME": home,
            "XDG_DATA_HOME": os.path.join(home, "data"),
            "XDG_CACHE_HOME": os.path.join(home, "cache"),
            "NO_COLOR": "1",
            "LANG": "C.UTF-8",
        }
        ran, skipped, failed = 0, [], []
        for number, command in commands(readme):
            reason = skip_reason(command)
            if reason:
                skipped.append((number, command, reason))
                print(f"SKIPPED  README.md:{number}: {command}\n         ({reason})")
                continue
            try:
                result = subprocess.run(["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True,
                                        timeout=120, stdin=subprocess.DEVNULL)
                status, stderr = result.returncode, result.stderr.strip()
            except subprocess.TimeoutExpired:
                status, stderr = None, "timed out after 120 s"
            ran += 1
            ok = status is not None and 0 <= status <= 3
            # A placeholder link or connection id (lnk_..., con_...) is "no such id" (66), as documented.
            if status == 66 and re.search(r"\b(lnk|con)_[a-z0-9]+", command) and re.search(r"no (link|connection)", stderr):
                ok = True
            if command.rstrip().startswith("authdoctor rules score") and status == 1:
                ok = True  # --min: below the bar is exit 1 by design
            print(f"{'ok' if ok else 'FAILED':8} README.md:{number}: {command}  (exit {status})")
            if not ok:
                failed.append((number, command, status, stderr.splitlines()[-1] if stderr else ""))
        print(f"\nREADME commands: {ran} run, {len(skipped)} skipped, {len(failed)} failed")
        for number, command, status, line in failed:
            print(f"  README.md:{number}: exit {status}: {command}\n    {line}")
        sys.exit(1 if failed or ran == 0 else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
