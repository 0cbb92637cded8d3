import Diagnose
import EvidenceModel
import Foundation
import Links
import RuleEngine

/// The HTML of the operator console: server-rendered, a little inline CSS, no script but the copy
/// button's (allowed by a per-response CSP nonce). Every value from the store, a report or a form
/// is escaped, and every text that could carry a secret goes through `Redactor` first.
enum ConsolePages {
    struct Page {
        var status: Int
        var html: String
        /// Set when the page carries the copy button's script (its CSP names this nonce).
        var scriptNonce: String? = nil
    }

    enum Section: String { case overview, links, classify, none }

    static let style = """
    *{box-sizing:border-box}
    body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;line-height:1.5;background:#fff}
    a{color:#1f4fb8}
    a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #1f4fb8;outline-offset:2px}
    .skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem}
    .skip:focus{left:.5rem}
    header.bar{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;gap:1.25rem;align-items:center;flex-wrap:wrap}
    header.bar a{color:#fff;text-decoration:none;padding:.2rem .1rem}
    header.bar a[aria-current=page]{border-bottom:3px solid #fff}
    header.bar .who{margin-left:auto;font-size:.9rem}
    header.bar form{display:inline}
    header.bar button{background:#fff;color:#1d2330}
    main{max-width:72rem;margin:1.5rem auto;padding:0 1rem}
    h1{font-size:1.5rem;margin:.25rem 0 1rem}
    h2{font-size:1.2rem;margin-top:2rem}
    .muted{color:#4f5766}
    table{border-collapse:collapse;width:100%;font-size:.92rem}
    th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d5de;vertical-align:top}
    th{background:#f3f5f8}
    .status{font-weight:600}
    .s-ok{color:#1a7f37}.s-warning{color:#8a5d00}.s-critical{color:#b42318}.s-unknown,.s-unchecked{color:#4f5766}
    form.filters{display:flex;gap:.75rem;flex-wrap:wrap;align-items:flex-end;margin-bottom:1rem}
    form.filters label,form.stack label{display:block;font-size:.85rem;font-weight:600}
    form.stack>div{margin:.75rem 0}
    input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid #6b7280;border-radius:.3rem;color:#1d2330;background:#fff}
    textarea{width:100%;font-family:ui-monospace,monospace;font-size:.85rem}
    button{font:inherit;border:0;border-radius:.4rem;padding:.4rem .9rem;cursor:pointer;background:#1f4fb8;color:#fff}
    button.danger{background:#b42318}
    .notice{border-left:4px solid #1a7f37;background:#eef8f0;padding:.5rem 1rem}
    .refused{border-left:4px solid #b42318;background:#fdf0ef;padding:.5rem 1rem}
    .issued{border:2px solid #1a7f37;border-radius:.5rem;padding:1rem;margin:1rem 0}
    .issued input{width:100%;font-family:ui-monospace,monospace}
    .finding{border:1px solid #d0d5de;border-radius:.5rem;padding:.75rem 1rem;margin:.75rem 0}
    .finding h3{margin:.1rem 0 .4rem;font-size:1.05rem}
    .client-message{white-space:pre-wrap;background:#f3f5f8;border-radius:.4rem;padding:.75rem 1rem}
    nav.pages{display:flex;gap:1rem;align-items:center;margin:1rem 0}
    dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;font-size:.9rem}
    dl.facts dt{font-weight:600}
    code{font-family:ui-monospace,monospace;font-size:.88em;overflow-wrap:anywhere}
    """

    static let copyScript = """
    document.querySelectorAll('button[data-copy]').forEach(function(b){b.hidden=false;b.addEventListener('click',function(){var f=document.getElementById(b.getAttribute('data-copy'));f.select();(navigator.clipboard?navigator.clipboard.writeText(f.value):Promise.reject()).then(function(){b.textContent='Copied';},function(){document.execCommand('copy');b.textContent='Copied';});});});
    """

    static func escape(_ s: String) -> String { LinkPages.escape(s) }
    /// Redacted, then escaped: for any text that came from evidence, a report or a check.
    static func safe(_ s: String) -> String { LinkPages.escape(Redactor.redact(s)) }
    static func date(_ d: Date?) -> String { d.map { escape(LinkPages.dateText($0)) } ?? "—" }

    static func document(title: String, section: Section, operatorName: String?, csrf: String?, body: String, nonce: String? = nil) -> String {
        func item(_ s: Section, _ href: String, _ label: String) -> String {
            "<a href=\"\(href)\"\(s == section ? " aria-current=\"page\"" : "")>\(label)</a>"
        }
        var bar = "<header class=\"bar\"><strong>authdoctor console</strong>"
        if let operatorName, let csrf {
            bar += "<nav aria-label=\"Console\">" + item(.overview, "/console", "Connections") + " " + item(.links, "/console/links", "Links") + " "
                + item(.classify, "/console/classify", "Paste evidence") + "</nav>"
            bar += "<span class=\"who\">Signed in as \(escape(operatorName))</span>"
            bar += "<form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"\(escape(csrf))\"><button type=\"submit\">Sign out</button></form>"
        }
        bar += "</header>"
        let script = nonce.map { "<script nonce=\"\($0)\">\(copyScript)</script>" } ?? ""
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <meta name="referrer" content="same-origin"><meta name="robots" content="noindex">
        <title>\(escape(title)) · authdoctor console</title><style>\(style)</style></head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        \(bar)
        <main id="main" tabindex="-1">
        \(body)
        </main>
        \(script)
        </body></html>

        """
    }

    // MARK: login

    static func login(csrf: String, next: String?, problem: String?, status: Int = 200) -> Page {
        let refused = problem.map { "<p class=\"refused\" role=\"alert\">\(escape($0))</p>" } ?? ""
        let nextField = next.map { "<input type=\"hidden\" name=\"next\" value=\"\(escape($0))\">" } ?? ""
        let body = """
        <h1>Sign in</h1>
        \(refused)
        <p class="muted">Use an operator token (<code>authdoctor operators add NAME</code> prints one, once).</p>
        <form class="stack" method="post" action="/console/login">
        <input type="hidden" name="csrf" value="\(escape(csrf))">\(nextField)
        <div><label for="token">Operator token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required size="50"></div>
        <div><button type="submit">Sign in</button></div>
        </form>
        """
        return Page(status: status, html: document(title: "Sign in", section: .none, operatorName: nil, csrf: nil, body: body))
    }

    static func message(status: Int, title: String, text: String, operatorName: String?, csrf: String?, back: (String, String)? = nil) -> Page {
        let backLink = back.map { "<p><a href=\"\(escape($0.0))\">\(escape($0.1))</a></p>" } ?? ""
        let body = "<h1>\(escape(title))</h1>\n<p class=\"refused\">\(escape(text))</p>\n\(backLink)"
        return Page(status: status, html: document(title: title, section: .none, operatorName: operatorName, csrf: csrf, body: body))
    }

    // MARK: overview

    static func statusCell(_ status: String) -> String {
        "<span class=\"status s-\(escape(status))\">\(escape(status.uppercased()))</span>"
    }

    static func connectionHref(_ id: String) -> String {
        "/console/connections/" + ConsoleHandlers.pathSegment(id)
    }

    static func overview(_ page: ConsoleOverview.Page, filter: ConsoleOverview.Filter, operatorName: String, csrf: String) -> Page {
        func option(_ value: String, _ label: String, selected: Bool) -> String {
            "<option value=\"\(escape(value))\"\(selected ? " selected" : "")>\(escape(label))</option>"
        }
        var statusOptions = option("", "All", selected: filter.status == nil) + option("failing", "Not OK", selected: filter.status == "failing")
        for s in ConsoleOverview.statuses {
            statusOptions += option(s, "\(s) (\(page.counts[s] ?? 0))", selected: filter.status == s)
        }
        var providerOptions = option("", "All", selected: filter.provider == nil)
        for p in page.providers { providerOptions += option(p, p, selected: filter.provider == p) }
        var rows = ""
        rows.reserveCapacity(page.rows.count * 600)
        for r in page.rows {
            let client = r.client.map(safe) ?? "<span class=\"muted\">connections file</span>"
            let state = r.state.map { $0 == "active" ? "" : " <span class=\"muted\">(\(escape($0)))</span>" } ?? ""
            let failure = r.failure.map { "<br><span class=\"muted\">\(escape($0))</span>" } ?? ""
            rows += "<tr><td><a href=\"\(escape(connectionHref(r.id)))\">\(safe(r.id))</a>\(state)</td>"
                + "<td>\(statusCell(r.status))\(failure)</td><td>\(r.provider.map(escape) ?? "—")</td><td>\(client)</td>"
                + "<td>\(date(r.failingSince))</td><td>\(r.flapping ? "<strong>yes</strong>" : "no")</td><td>\(date(r.lastCheck))</td></tr>\n"
        }
        let table = page.rows.isEmpty
            ? "<p>No connection matches.</p>"
            : """
            <table><caption class="muted" style="text-align:left">\(page.matching) of \(page.total) connections, worst first</caption>
            <thead><tr><th scope="col">Connection</th><th scope="col">Status</th><th scope="col">Provider</th><th scope="col">Client</th><th scope="col">Failing since</th><th scope="col">Flapping</th><th scope="col">Last check</th></tr></thead>
            <tbody>
            \(rows)</tbody></table>
            """
        var pager = "<nav class=\"pages\" aria-label=\"Pages\">"
        if page.page > 1 { pager += "<a href=\"/console\(escape(filter.queryString(page: page.page - 1)))\" rel=\"prev\">Previous page</a>" }
        pager += "<span>Page \(page.page) of \(page.pages)</span>"
        if page.page < page.pages { pager += "<a href=\"/console\(escape(filter.queryString(page: page.page + 1)))\" rel=\"next\">Next page</a>" }
        pager += "</nav>"
        let body = """
        <h1>Connections</h1>
        <form class="filters" method="get" action="/console" role="search">
        <div><label for="f-status">Status</label><select id="f-status" name="status">\(statusOptions)</select></div>
        <div><label for="f-provider">Provider</label><select id="f-provider" name="provider">\(providerOptions)</select></div>
        <div><label for="f-q">Search</label><input id="f-q" name="q" type="search" value="\(escape(filter.query ?? ""))" placeholder="connection, client, failure…"></div>
        <div><button type="submit">Apply</button></div>
        </form>
        \(table)
        \(pager)
        """
        return Page(status: 200, html: document(title: "Connections", section: .overview, operatorName: operatorName, csrf: csrf, body: body))
    }

    // MARK: a connection

    static func connection(_ row: ConsoleOverview.Row, connection: StoredConnection?, verdicts: [CheckVerdict], report: Report?,
                           operatorName: String, csrf: String) -> Page {
        var facts = "<dl class=\"facts\">"
        facts += "<dt>Status</dt><dd>\(statusCell(row.status))\(row.failure.map { " — \(escape($0))" } ?? "")</dd>"
        facts += "<dt>Provider</dt><dd>\(row.provider.map(escape) ?? "—")</dd>"
        facts += "<dt>Client</dt><dd>\(row.client.map(safe) ?? "— (a connection of a connections file)")</dd>"
        if let account = row.account { facts += "<dt>Account</dt><dd>\(safe(account))</dd>" }
        if let connection {
            facts += "<dt>Connection</dt><dd>\(escape(connection.status.rawValue)), connected \(date(connection.createdAt)) through link <code>\(escape(connection.linkID))</code></dd>"
            if !connection.scopes.isEmpty { facts += "<dt>Scopes</dt><dd>\(connection.scopes.map { "<code>\(safe($0))</code>" }.joined(separator: " "))</dd>" }
        }
        facts += "<dt>Failing since</dt><dd>\(date(row.failingSince))</dd>"
        facts += "<dt>Flapping</dt><dd>\(row.flapping ? "yes (the status changed at least 4 times in the last 10 checks)" : "no")</dd>"
        facts += "<dt>Last check</dt><dd>\(date(row.lastCheck))</dd></dl>"

        var history = ""
        if !verdicts.isEmpty {
            history = "<table><caption class=\"muted\" style=\"text-align:left\">The newest \(min(verdicts.count, 20)) checks</caption><thead><tr><th scope=\"col\">Checked</th><th scope=\"col\">Status</th><th scope=\"col\">Failure</th><th scope=\"col\">Summary</th></tr></thead><tbody>"
            for v in verdicts.prefix(20) {
                history += "<tr><td>\(date(v.checkedAt))</td><td>\(statusCell(v.status))</td><td>\(escape(v.failure))</td><td>\(safe(v.summary))</td></tr>"
            }
            history += "</tbody></table>"
        }
        let latest: String
        if let report, let verdict = verdicts.first {
            latest = """
            <p class="muted">The check of \(date(verdict.checkedAt)) recorded: <strong>\(safe(verdict.summary))</strong>. What follows is that finding read by the rules again (its steps and the message for the client).</p>
            \(reportHTML(report, headingLevel: 3))
            """
        } else {
            latest = "<p class=\"muted\">No report yet: no check of this connection is recorded.</p>"
        }
        let body = """
        <p><a href="/console">← All connections</a></p>
        <h1>Connection <code>\(safe(row.id))</code></h1>
        \(facts)
        <form method="post" action="\(escape(connectionHref(row.id)))/link">
        <input type="hidden" name="csrf" value="\(escape(csrf))">
        <button type="submit">Issue re-authorization link</button>
        <span class="muted">for \(row.client.map(safe) ?? safe(row.id))\(row.provider.map { " to connect \(escape($0)) again" } ?? "")</span>
        </form>
        <h2>History</h2>
        \(TimelineSVG.render(verdicts))
        \(history)
        <h2>Latest report</h2>
        \(latest)
        """
        return Page(status: 200, html: document(title: "Connection \(Redactor.redact(row.id))", section: .overview, operatorName: operatorName, csrf: csrf, body: body))
    }

    // MARK: reports

    /// A report as HTML: verdict, findings with their evidence and steps, the client message.
    static func reportHTML(_ report: Report, headingLevel h: Int = 2) -> String {
        let verdict: String
        switch report.verdict {
        case .failure: verdict = "Failure"
        case .warning: verdict = "Warning"
        case .ok: verdict = "Nothing wrong found"
        case .unknown: verdict = "Not recognised"
        }
        var out = "<section class=\"report\" aria-label=\"Report\"><p><strong>\(verdict)</strong>"
        if let provider = report.provider { out += " · provider \(escape(provider))\(report.providerDetected ? " (recognised from the evidence)" : "")" }
        if let status = report.httpStatus { out += " · HTTP \(status)" }
        out += "</p>"
        if let note = report.note { out += "<p>\(safe(note))</p>" }
        if let local = report.localNetwork { out += "<p class=\"refused\">\(safe(local))</p>" }
        for (n, f) in report.findings.enumerated() {
            out += "<article class=\"finding\"><h\(h)>\(n + 1). \(escape(f.failure)): \(safe(f.summary))</h\(h)>"
            out += "<p class=\"muted\">\(escape(f.severity)) · confidence \(Int((f.confidence * 100).rounded()))% · who acts: \(escape(f.actor)) · rule <code>\(escape(f.rule))</code>\(f.transient ? " · transient: a retry may help" : "")</p>"
            if let cause = f.explainedBy { out += "<p>Explained by <code>\(escape(cause))</code> (its root cause).</p>" }
            if !f.evidence.isEmpty {
                out += "<details><summary>Evidence</summary><dl class=\"facts\">"
                for (name, value) in f.evidence.prefix(30) {
                    out += "<dt><code>\(escape(name))</code></dt><dd><code>\(safe(String(Redactor.redactForDisplay(value).description.prefix(300))))</code></dd>"
                }
                out += "</dl></details>"
            }
            if !f.remediation.isEmpty {
                out += "<h\(h + 1)>What to do</h\(h + 1)><ol>"
                for r in f.remediation {
                    out += "<li><strong>\(safe(r.title))</strong> <span class=\"muted\">(\(escape(r.doc)))\(r.issuesLink ? " — the client re-authorizes" : "")</span>"
                    if !r.steps.isEmpty { out += "<ul>" + r.steps.map { "<li>\(safe($0))</li>" }.joined() + "</ul>" }
                    out += "</li>"
                }
                out += "</ol>"
            }
            if let link = f.link { out += "<p>Authorization link <code>\(escape(link.id))</code> issued for the client.</p>" }
            out += "</article>"
        }
        if let message = report.clientMessage {
            out += "<h\(h)>Message for the client</h\(h)><div class=\"client-message\">\(safe(message))</div>"
        }
        out += "</section>"
        return out
    }

    // MARK: links

    struct IssuedView {
        var link: AuthorizationLink
        var url: String
    }

    static func issuedBlock(_ issued: IssuedView) -> String {
        """
        <section class="issued" aria-labelledby="issued-h">
        <h2 id="issued-h">Link issued for \(safe(issued.link.client))</h2>
        <p>Send this address to the client. <strong>It is shown only now</strong>: the server keeps only its hash.</p>
        <label for="issued-url">Link URL</label>
        <input id="issued-url" type="text" readonly value="\(escape(issued.url))">
        <p><button type="button" data-copy="issued-url" hidden>Copy link</button>
        <span class="muted">Link <code>\(escape(issued.link.id))</code>, valid until \(date(issued.link.expiresAt))\(issued.link.sources.isEmpty ? "" : ", for " + issued.link.sources.map(escape).joined(separator: ", ")).</span></p>
        </section>
        """
    }

    static func links(_ links: [AuthorizationLink], connections: [String: [StoredConnection]], providers: [(id: String, name: String)],
                      now: Date, issued: IssuedView?, notice: String?, problem: String?, form: (client: String, ttl: String, maxSources: String, sources: Set<String>),
                      operatorName: String, csrf: String, nonce: String?, status: Int = 200) -> Page {
        var sourceBoxes = ""
        for p in providers {
            sourceBoxes += "<label style=\"display:inline-block;font-weight:normal;margin-right:1rem\"><input type=\"checkbox\" name=\"sources\" value=\"\(escape(p.id))\"\(form.sources.contains(p.id) ? " checked" : "")> \(escape(p.name))</label>"
        }
        var rows = ""
        for link in links.prefix(500) {
            let state = link.state(at: now)
            let made = connections[link.id]?.count ?? 0
            let action = (state == .issued || state == .opened)
                ? "<form method=\"post\" action=\"/console/links/\(escape(ConsoleHandlers.pathSegment(link.id)))/revoke\"><input type=\"hidden\" name=\"csrf\" value=\"\(escape(csrf))\"><button class=\"danger\" type=\"submit\" aria-label=\"Revoke link \(escape(link.id))\">Revoke</button></form>"
                : ""
            rows += "<tr><td><code>\(escape(link.id))</code></td><td>\(safe(link.client))</td><td>\(escape(state.rawValue))</td>"
                + "<td>\(link.sources.isEmpty ? "any" : link.sources.map(escape).joined(separator: ", "))</td><td>\(made)</td>"
                + "<td>\(date(link.createdAt))</td><td>\(date(link.expiresAt))</td><td>\(action)</td></tr>\n"
        }
        let table = links.isEmpty ? "<p>No link issued yet.</p>" : """
            <table><caption class="muted" style="text-align:left">\(links.count) links, newest first\(links.count > 500 ? " (the newest 500 shown)" : "")</caption>
            <thead><tr><th scope="col">Link</th><th scope="col">Client</th><th scope="col">State</th><th scope="col">Sources</th><th scope="col">Connections</th><th scope="col">Issued</th><th scope="col">Expires</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
            <tbody>
            \(rows)</tbody></table>
            """
        let body = """
        <h1>Authorization links</h1>
        \(notice.map { "<p class=\"notice\" role=\"status\">\(escape($0))</p>" } ?? "")
        \(problem.map { "<p class=\"refused\" role=\"alert\">\(escape($0))</p>" } ?? "")
        \(issued.map(issuedBlock) ?? "")
        <h2>Issue a link</h2>
        <form class="stack" method="post" action="/console/links">
        <input type="hidden" name="csrf" value="\(escape(csrf))">
        <div><label for="l-client">Client</label><input id="l-client" name="client" required maxlength="200" size="40" value="\(escape(form.client))"></div>
        <fieldset><legend>Sources to connect (none checked: any this server can connect)</legend>\(sourceBoxes)</fieldset>
        <div><label for="l-ttl">Valid for</label><input id="l-ttl" name="ttl" size="8" value="\(escape(form.ttl))" aria-describedby="l-ttl-help"> <span id="l-ttl-help" class="muted">e.g. 90m, 24h, 7d</span></div>
        <div><label for="l-max">Most connections (optional)</label><input id="l-max" name="maxSources" type="number" min="1" size="4" value="\(escape(form.maxSources))"></div>
        <div><button type="submit">Issue link</button></div>
        </form>
        <h2>Links</h2>
        \(table)
        """
        return Page(status: status, html: document(title: "Links", section: .links, operatorName: operatorName, csrf: csrf, body: body, nonce: nonce),
                    scriptNonce: nonce)
    }

    /// The page after "issue re-authorization link" on a connection.
    static func reauthorizationIssued(_ issued: IssuedView, connectionID: String, operatorName: String, csrf: String, nonce: String) -> Page {
        let body = """
        <p><a href="\(escape(connectionHref(connectionID)))">← Connection \(safe(connectionID))</a></p>
        <h1>Re-authorization link</h1>
        \(issuedBlock(issued))
        <p><a href="/console/links">All links</a></p>
        """
        return Page(status: 200, html: document(title: "Re-authorization link", section: .links, operatorName: operatorName, csrf: csrf, body: body, nonce: nonce),
                    scriptNonce: nonce)
    }

    // MARK: paste evidence

    static let evidenceKinds = [("text", "Pasted text (a log line, an exception, a message)"), ("response", "A curl -i output (status line, headers, body)"),
                                ("har", "A HAR export (uploaded below or pasted)")]

    static func classify(report: Report?, problem: String?, kind: String, provider: String?, providers: [String], operatorName: String, csrf: String, status: Int = 200) -> Page {
        var kinds = ""
        for (value, label) in evidenceKinds {
            kinds += "<label style=\"display:block;font-weight:normal\"><input type=\"radio\" name=\"kind\" value=\"\(value)\"\(kind == value ? " checked" : "")> \(escape(label))</label>"
        }
        var providerOptions = "<option value=\"\">Recognise from the evidence</option>"
        for p in providers { providerOptions += "<option value=\"\(escape(p))\"\(provider == p ? " selected" : "")>\(escape(p))</option>" }
        let result: String
        if let report {
            result = "<h2 id=\"result\">Report</h2>\n" + reportHTML(report, headingLevel: 3)
        } else {
            result = ""
        }
        let body = """
        <h1>Paste evidence</h1>
        <p class="muted">Classify what a client sent, with the same rules as <code>authdoctor classify</code>. Nothing pasted or uploaded is stored or logged; secrets in it are redacted from the report.</p>
        \(problem.map { "<p class=\"refused\" role=\"alert\">\(escape($0))</p>" } ?? "")
        \(result)
        \(report == nil ? "" : "<h2>Classify other evidence</h2>")
        <form class="stack" method="post" action="/console/classify" enctype="multipart/form-data">
        <input type="hidden" name="csrf" value="\(escape(csrf))">
        <fieldset><legend>What it is</legend>\(kinds)</fieldset>
        <div><label for="c-evidence">Evidence</label><textarea id="c-evidence" name="evidence" rows="12" spellcheck="false"></textarea></div>
        <div><label for="c-file">Or upload a file (HAR, or a saved response)</label><input id="c-file" name="file" type="file" accept=".har,.json,.txt,.http,application/json,text/plain"></div>
        <div><label for="c-provider">Provider</label><select id="c-provider" name="provider">\(providerOptions)</select></div>
        <div><button type="submit">Classify</button></div>
        </form>
        """
        return Page(status: status, html: document(title: "Paste evidence", section: .classify, operatorName: operatorName, csrf: csrf, body: body))
    }
}
