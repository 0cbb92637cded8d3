#!/usr/bin/env python3
"""The authorization-link flow in a real browser (issue 12).

Debian's Chromium, headless, driven through chromedriver by selenium, against the real binaries on
loopback: `authdoctor serve --sandbox` (the Sandbox's test OAuth servers) and `authdoctor links
issue`. The walk: a link preview fetches the URL (uses nothing up) -> the client opens the link ->
Start -> Connect Google and Facebook (OAuth code flow with PKCE at the Sandbox) -> Finish -> a second
browser with a fresh profile is refused. A screenshot of every page is kept; the folder is printed.

Usage: python3 Tests/browser/link_flow_test.py [PATH/TO/authdoctor]
Exit status 0 when every check passed, 1 otherwise (the failing check is printed).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/debug/authdoctor"))
ARTIFACTS = os.environ.get("AUTHDOCTOR_BROWSER_ARTIFACTS") or os.path.join(
    ROOT, ".build", "browser-test", time.strftime("run-%Y%m%dT%H%M%SZ", time.gmtime()))
SOURCES = ["google", "facebook"]


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)
    print("  ok   " + message)


def chromedriver_path():
    for candidate in (os.environ.get("CHROMEDRIVER"), shutil.which("chromedriver"), "/usr/bin/chromedriver"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise CheckFailed("chromedriver not found (apt-get install chromium-driver)")


def new_browser(profile):
    options = webdriver.ChromeOptions()
    for path in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if path and os.path.exists(path):
            options.binary_location = path
            break
    options.add_argument("--headless=new")
    options.add_argument("--user-data-dir=" + profile)  # a fresh profile: its own cookie jar
    options.add_argument("--window-size=1000,900")
    options.add_argument("--no-first-run")
    options.add_argument("--disable-gpu")
    options.add_argument("--disable-dev-shm-usage")
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses its sandbox as root (CI containers)
    driver = webdriver.Chrome(service=Service(chromedriver_path()), options=options)
    driver.set_page_load_timeout(20)
    return driver


class Pages:
    """Keeps a screenshot (and the HTML) of every page the test looks at."""

    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        os.makedirs(folder, exist_ok=True)

    def keep(self, driver, name):
        self.count += 1
        base = os.path.join(self.folder, "%02d-%s" % (self.count, name))
        driver.save_screenshot(base + ".png")
        with open(base + ".html", "w") as f:
            f.write(driver.page_source)
        print("  page %s: %s (%s)" % (base + ".png", driver.title, driver.current_url.split("/l/")[0]))


def run_cli(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60)


def start_server(db, log_path):
    log = open(log_path, "w")
    process = subprocess.Popen([BINARY, "serve", "--sandbox", "--port", "0", "--db", db],
                               stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        with open(log_path) as f:
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read())
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise CheckFailed("authdoctor serve did not start: " + open(log_path).read())


def body_text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def main():
    if not os.access(BINARY, os.X_OK):
        print("link_flow_test: no binary at %s (run make build)" % BINARY, file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="authdoctor-browser-")
    db = os.path.join(work, "links.sqlite")
    log_path = os.path.join(ARTIFACTS, "serve.log")
    os.makedirs(ARTIFACTS, exist_ok=True)
    pages = Pages(ARTIFACTS)
    print("link flow in Chromium; screenshots in " + ARTIFACTS)
    server, base = start_server(db, log_path)
    drivers = []
    token = None
    try:
        issued = run_cli("links", "issue", "--db", db, "--client", "Browser Test Ltd", "--sources", ",".join(SOURCES),
                         "--public-url", base, "--format", "json")
        check(issued.returncode == 0, "links issue exits 0 (%s)" % issued.stderr.strip())
        link = json.loads(issued.stdout)["url"]
        token = link.rsplit("/", 1)[1]
        link_id = json.loads(issued.stdout)["id"]

        # A link preview (chat unfurler, mail scanner) fetches the URL first: nothing is used up.
        preview = urllib.request.urlopen(urllib.request.Request(link, headers={"User-Agent": "Slackbot-LinkExpanding"}), timeout=10)
        check(preview.status == 200 and preview.headers.get("Set-Cookie") is None, "a preview GET gets the start page, no session")
        shown = json.loads(run_cli("links", "show", link_id, "--db", db, "--format", "json").stdout)
        check(shown["state"] == "issued", "the link is still unopened after the preview (state %s)" % shown["state"])

        first = new_browser(os.path.join(work, "profile-client"))
        drivers.append(first)
        first.get(link)
        pages.keep(first, "start")
        check("Connect your data sources" in body_text(first), "the link opens on its start page")
        first.find_element(By.XPATH, "//button[normalize-space()='Start']").click()
        pages.keep(first, "session")
        text = body_text(first)
        check("This request was refused" not in text, "Start is accepted (no forgery refusal)")
        connect_buttons = first.find_elements(By.XPATH, "//button[normalize-space()='Connect']")
        check(len(connect_buttons) == len(SOURCES), "the session page shows a Connect button per source (%d)" % len(connect_buttons))

        for provider in SOURCES:
            form = first.find_element(By.CSS_SELECTOR, "form[action$='/connect/%s']" % provider)
            form.find_element(By.TAG_NAME, "button").click()
            pages.keep(first, "after-connect-" + provider)
            text = body_text(first)
            check("This request was refused" not in text, "Connect %s is not refused as a forgery" % provider)
            check(first.current_url == link, "after signing in at the Sandbox the browser is back on its link page")
            check(first.find_elements(By.CSS_SELECTOR, "form[action$='/connect/%s']" % provider) == [],
                  "%s shows as connected" % provider)
        check(text.count("active after Finish") == len(SOURCES), "both sources connected, pending until Finish")
        pending = json.loads(run_cli("connections", "list", "--db", db, "--format", "json").stdout)
        check(sorted(c["status"] for c in pending) == ["pending"] * len(SOURCES), "the store holds both connections, pending")

        first.find_element(By.XPATH, "//button[normalize-space()='Finish']").click()
        pages.keep(first, "finished")
        check("All set" in body_text(first), "Finish shows the All set page")
        active = json.loads(run_cli("connections", "list", "--db", db, "--format", "json").stdout)
        check(sorted(c["status"] for c in active) == ["active"] * len(SOURCES), "both connections are active")
        check(sorted(c["provider"] for c in active) == sorted(SOURCES), "for the two providers asked for")

        second = new_browser(os.path.join(work, "profile-other"))
        drivers.append(second)
        second.get(link)
        pages.keep(second, "second-browser")
        text = body_text(second)
        check("already used" in text, "a second browser is refused: the link was already used")
        check(second.find_elements(By.TAG_NAME, "button") == [], "the refusal page has no button to press")

        first.get(link)
        pages.keep(first, "first-browser-after-finish")
        check("already used" in body_text(first), "the finished link does not reopen in the first browser either")
    except (CheckFailed, WebDriverException) as failure:
        print("FAIL link_flow_test: %s" % failure, file=sys.stderr)
        for driver in drivers:
            try:
                pages.keep(driver, "failure")
            except WebDriverException:
                pass
        return 1
    finally:
        for driver in drivers:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)

    log = open(log_path).read()
    try:
        check("POST /l/[REDACTED]/finish 200" in log, "the server logged the flow, redacted")
        check(token not in log, "the link token is not in the server log")
        for name in os.listdir(ARTIFACTS):
            if name.endswith(".html") and not name.endswith(("-session.html", "-after-connect-google.html",
                                                              "-after-connect-facebook.html", "-start.html")):
                check(token not in open(os.path.join(ARTIFACTS, name)).read(), "no link token in " + name)
    except CheckFailed as failure:
        print("FAIL link_flow_test: %s" % failure, file=sys.stderr)
        return 1
    print("link_flow_test: passed; %d screenshots in %s" % (pages.count, ARTIFACTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
