#!/usr/bin/env python3
"""The operator console in a real browser (issue 17, part 3).

Debian's Chromium, headless, driven through chromedriver by selenium, against the real binary on
loopback: `authdoctor serve --sandbox` with a SQLite store, an operator added with `authdoctor
operators add`, and a check history written into the store as `check --db` writes it (a stored
connection made through a link, and a connection of a connections file).

The walk: a signed-out visit goes to the sign-in page -> sign in with the keyboard (Tab, Enter) ->
the overview (filter by status) -> a connection: its timeline SVG and latest report -> issue a
re-authorization link (URL shown once, copy button run under the CSP nonce) -> the links page:
issue a link, revoke it -> paste evidence holding a secret: the report, never the secret -> sign
out. On every page: one h1, a label for every field, text contrast of at least 4.5:1, no CSP
violation in the console. A screenshot (and the HTML) of every page is kept; the folder is printed.

Usage: python3 Tests/browser/console_test.py [PATH/TO/authdoctor]
Exit status 0 when every check passed, 1 otherwise (the failing check is printed).
"""

import json
import os
import sqlite3
import shutil
import subprocess
import sys
import tempfile
import time

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import link_flow_test as flow  # noqa: E402  (the same browser, server and screenshot helpers)
from link_flow_test import CheckFailed, check  # noqa: E402

ARTIFACTS = os.environ.get("AUTHDOCTOR_BROWSER_ARTIFACTS_CONSOLE") or os.path.join(
    flow.ROOT, ".build", "browser-test", time.strftime("console-%Y%m%dT%H%M%SZ", time.gmtime()))
SECRET = "sk_live_51HxYzBrowserSecret0042"

# Every visible text node's colour against the first opaque background behind it (WCAG contrast).
CONTRAST_JS = """
function lum(c){var m=c.match(/[\\d.]+/g).map(Number);var a=m.length>3?m[3]:1;
  var v=m.slice(0,3).map(function(x){x/=255;return x<=0.03928?x/12.92:Math.pow((x+0.055)/1.055,2.4);});
  return {l:0.2126*v[0]+0.7152*v[1]+0.0722*v[2],a:a};}
function bg(e){while(e){var c=getComputedStyle(e).backgroundColor;if(lum(c).a>0.5)return c;e=e.parentElement;}return 'rgb(255,255,255)';}
var worst=[];var walker=document.createTreeWalker(document.body,NodeFilter.SHOW_TEXT);var n;
while((n=walker.nextNode())){var e=n.parentElement;if(!n.textContent.trim()||!e||!e.offsetParent&&e.tagName!=='BODY')continue;
  if(e.closest('svg'))continue;var s=getComputedStyle(e);if(s.visibility==='hidden')continue;
  var f=lum(s.color).l,b=lum(bg(e)).l;var r=(Math.max(f,b)+0.05)/(Math.min(f,b)+0.05);
  if(r<4.5)worst.push(r.toFixed(2)+' '+e.tagName+' '+n.textContent.trim().slice(0,40));}
return worst;
"""

# Fields a person fills that no label names.
UNLABELLED_JS = """
return Array.from(document.querySelectorAll('input,select,textarea')).filter(function(e){
  if(e.type==='hidden')return false;
  if(e.getAttribute('aria-label'))return false;
  if(e.id&&document.querySelector('label[for="'+e.id+'"]'))return false;
  return !e.closest('label');}).map(function(e){return e.name||e.id||e.outerHTML.slice(0,60);});
"""


def audit_page(driver, pages, name):
    """Keeps the page and checks its basic accessibility."""
    pages.keep(driver, name)
    check(len(driver.find_elements(By.TAG_NAME, "h1")) == 1, "%s: one h1" % name)
    unlabelled = driver.execute_script(UNLABELLED_JS)
    check(unlabelled == [], "%s: every field has a label %s" % (name, unlabelled or ""))
    low = driver.execute_script(CONTRAST_JS)
    check(low == [], "%s: text contrast at least 4.5:1 %s" % (name, low[:3] if low else ""))
    violations = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    check(violations == [], "%s: no Content-Security-Policy violation %s" % (name, violations[:1] or ""))
    check(SECRET not in driver.page_source, "%s: the pasted secret is not on the page" % name)


def wait_for(driver, condition, seconds=10):
    """Whether the condition holds within the time (a key press navigates without selenium waiting)."""
    try:
        WebDriverWait(driver, seconds).until(condition)
        return True
    except TimeoutException:
        return False


def navigate(driver, element):
    """Clicks something that loads a page, and waits for the new page."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        try:
            old.is_enabled()  # raises once the old page is gone (stale element, or a node Chromium dropped)
            return False
        except WebDriverException:
            return True

    WebDriverWait(driver, 15).until(replaced)


def seed_history(db, connection, provider, statuses, failure, summary):
    """Verdicts as `check --db` records them, one an hour ending now (oldest first)."""
    now = time.time()
    with sqlite3.connect(db) as conn:
        for i, status in enumerate(statuses):
            conn.execute("INSERT INTO verdicts (connection, checked_at, status, failure, summary, provider) VALUES (?, ?, ?, ?, ?, ?)",
                         (connection, now - (len(statuses) - i) * 3600, status, "none" if status == "ok" else failure,
                          "healthy" if status == "ok" else summary, provider))


def main():
    if not os.access(flow.BINARY, os.X_OK):
        print("console_test: no binary at %s (run make build)" % flow.BINARY, file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="authdoctor-console-")
    db = os.path.join(work, "console.sqlite")
    os.makedirs(ARTIFACTS, exist_ok=True)
    log_path = os.path.join(ARTIFACTS, "serve.log")
    pages = flow.Pages(ARTIFACTS)
    print("operator console in Chromium; screenshots in " + ARTIFACTS)
    server, base = flow.start_server(db, log_path)
    drivers = []
    token = None
    try:
        added = flow.run_cli("operators", "add", "alice", "--db", db, "--format", "json")
        check(added.returncode == 0, "operators add exits 0 (%s)" % added.stderr.strip())
        token = json.loads(added.stdout)["token"]

        # A stored connection, made through a link in a client's browser (Sandbox OAuth), and its history.
        issued = json.loads(flow.run_cli("links", "issue", "--db", db, "--client", "Acme Browser Ltd", "--sources", "google",
                                         "--public-url", base, "--format", "json").stdout)
        client = flow.new_browser(os.path.join(work, "profile-client"))
        drivers.append(client)
        client.implicitly_wait(10)  # each click navigates; wait for the next page's elements
        client.get(issued["url"])
        navigate(client, client.find_element(By.XPATH, "//button[normalize-space()='Start']"))
        navigate(client, client.find_element(By.CSS_SELECTOR, "form[action$='/connect/google'] button"))
        navigate(client, client.find_element(By.XPATH, "//button[normalize-space()='Finish']"))
        check("All set" in flow.body_text(client), "a client connected Google through a link")
        connection = json.loads(flow.run_cli("connections", "list", "--db", db, "--format", "json").stdout)[0]["id"]
        seed_history(db, connection, "google", ["ok", "ok", "ok", "warning", "critical", "critical"], "revoked",
                     "Token has been expired or revoked. (invalid_grant)")
        seed_history(db, "warehouse prod", "snowflake", ["critical", "ok", "critical", "ok", "critical"], "network-policy",
                     "IP 203.0.113.7 is not allowed to access Snowflake.")
        for i in range(60):
            seed_history(db, "file-%02d" % i, "hubspot", ["ok"], "none", "healthy")

        op = flow.new_browser(os.path.join(work, "profile-operator"))
        drivers.append(op)
        op.implicitly_wait(10)
        op.get(base + "/console/connections/" + connection)
        check(op.current_url.startswith(base + "/console/login?next="), "signed out: the console sends the browser to sign in")
        audit_page(op, pages, "sign-in")

        # Keyboard only: Tab from the top reaches "Skip to content", then the token field; Enter signs in.
        ActionChains(op).send_keys(Keys.TAB).perform()
        check(op.switch_to.active_element.text == "Skip to content", "Tab first reaches the skip link (shown when focused)")
        ActionChains(op).send_keys(Keys.TAB).perform()
        check(op.switch_to.active_element.get_attribute("id") == "token", "the next Tab reaches the token field")
        ActionChains(op).send_keys(token).send_keys(Keys.ENTER).perform()
        check(wait_for(op, lambda d: d.current_url == base + "/console/connections/" + connection),
              "Enter signs in and goes on to the page asked for")
        session = [c for c in op.get_cookies() if c["name"] == "authdoctor_console"]
        check(session and session[0]["httpOnly"] and session[0].get("sameSite") == "Strict", "the session cookie is HttpOnly, SameSite=Strict")
        audit_page(op, pages, "connection")
        check(len(op.find_elements(By.CSS_SELECTOR, "svg.timeline rect")) == 6, "the timeline draws the six checks")
        check(len(op.find_elements(By.CSS_SELECTOR, "article.finding")) >= 1, "the latest report shows its finding")
        check("What to do" in flow.body_text(op), "with its steps")

        op.get(base + "/console")
        audit_page(op, pages, "overview")
        text = flow.body_text(op)
        check("62 of 62 connections" in text and "Page 1 of 2" in text, "the overview lists every connection, 50 a page")
        rows = op.find_elements(By.CSS_SELECTOR, "tbody tr")
        check(connection in rows[0].text and "CRITICAL" in rows[0].text, "worst first: the critical stored connection leads")
        check("warehouse prod" in text and "yes" in rows[1].text, "the flapping connection of the connections file follows")
        op.find_element(By.ID, "f-status").send_keys("crit")
        navigate(op, op.find_element(By.XPATH, "//button[normalize-space()='Apply']"))
        check("2 of 62 connections" in flow.body_text(op), "the status filter keeps the two critical ones")
        pages.keep(op, "overview-critical")
        navigate(op, op.find_element(By.LINK_TEXT, connection))

        navigate(op, op.find_element(By.XPATH, "//button[normalize-space()='Issue re-authorization link']"))
        audit_page(op, pages, "reauthorization-link")
        url = op.find_element(By.ID, "issued-url").get_attribute("value")
        check(url.startswith(base + "/l/"), "the re-authorization link's URL is shown")
        copy = op.find_element(By.XPATH, "//button[@data-copy='issued-url']")
        check(copy.is_displayed(), "the copy button is shown (its script ran under the CSP nonce)")
        copy.click()
        check(wait_for(op, lambda d: copy.text == "Copied"), "the copy button copies")

        navigate(op, op.find_element(By.LINK_TEXT, "Links"))
        audit_page(op, pages, "links")
        check(url not in op.page_source, "the links page never shows a link's URL again")
        op.find_element(By.ID, "l-client").send_keys("Initech")
        op.find_element(By.CSS_SELECTOR, "input[name=sources][value=facebook]").click()
        navigate(op, op.find_element(By.XPATH, "//button[normalize-space()='Issue link']"))
        audit_page(op, pages, "link-issued")
        check("Link issued for Initech" in flow.body_text(op), "a link is issued from the form")
        new_id = json.loads(flow.run_cli("links", "list", "--db", db, "--format", "json").stdout)[0]["id"]
        navigate(op, op.find_element(By.CSS_SELECTOR, "button[aria-label='Revoke link %s']" % new_id))
        audit_page(op, pages, "link-revoked")
        check("was revoked" in flow.body_text(op), "revoking says so")
        shown = json.loads(flow.run_cli("links", "show", new_id, "--db", db, "--format", "json").stdout)
        check(shown["state"] == "revoked", "the store holds the link as revoked")

        navigate(op, op.find_element(By.LINK_TEXT, "Paste evidence"))
        audit_page(op, pages, "paste")
        op.find_element(By.ID, "c-evidence").send_keys(
            'Error: Couldn\'t get access token: {"error": "invalid_grant", "error_description": "Token has been expired or revoked."} '
            "client_secret=" + SECRET)
        op.find_element(By.ID, "c-provider").send_keys("google")
        navigate(op, op.find_element(By.XPATH, "//button[normalize-space()='Classify']"))
        audit_page(op, pages, "paste-report")
        check(len(op.find_elements(By.CSS_SELECTOR, "article.finding")) >= 1, "the pasted evidence is classified")
        check("revoked" in flow.body_text(op) or "expiry" in flow.body_text(op), "as a revoked or expired grant")

        navigate(op, op.find_element(By.XPATH, "//button[normalize-space()='Sign out']"))
        check(wait_for(op, lambda d: d.current_url.startswith(base + "/console/login")), "sign out returns to the sign-in page")
        op.get(base + "/console")
        check("/console/login" in op.current_url, "signed out, the console is closed again")
        audit = flow.run_cli("audit", "--db", db)
        check("/console/links/{id}/revoke" in audit.stdout and "alice" in audit.stdout, "console actions are in the audit log (%s)" % audit.stderr.strip())
    except (CheckFailed, WebDriverException) as failure:
        print("FAIL console_test: %s" % failure, file=sys.stderr)
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

    try:
        log = open(log_path).read()
        check(SECRET not in log and (token or "-") not in log, "neither the pasted secret nor the operator token is in the server log")
        for name in os.listdir(ARTIFACTS):
            if name.endswith(".html"):
                html = open(os.path.join(ARTIFACTS, name)).read()
                check(SECRET not in html and token not in html, "no secret in " + name)
    except CheckFailed as failure:
        print("FAIL console_test: %s" % failure, file=sys.stderr)
        return 1
    print("console_test: passed; %d screenshots in %s" % (pages.count, ARTIFACTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
