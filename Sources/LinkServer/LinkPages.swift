import Foundation
import Links

/// The HTML of the link pages: plain markup, a little inline CSS, no script, no build step.
/// Every value from the store or a provider is escaped. Pages name no secret; the only link token
/// they carry is in the form actions of the session's own page, the URL that browser already has
/// (a spent token grants nothing without the session cookie).
enum LinkPages {
    struct Page {
        var status: Int
        var html: String
    }

    static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2330;line-height:1.5}
    h1{font-size:1.5rem;margin-bottom:.25rem}
    .muted{color:#5b6475}
    ul.sources{list-style:none;padding:0}
    ul.sources li{display:flex;justify-content:space-between;align-items:center;border:1px solid #d9dde5;border-radius:.5rem;padding:.75rem 1rem;margin:.5rem 0}
    .state{font-size:.9rem;color:#1a7f37}
    form{margin:0}
    button{font:inherit;border:0;border-radius:.4rem;padding:.45rem 1rem;cursor:pointer;background:#2456c7;color:#fff}
    button.finish{background:#1a7f37;margin-top:1rem}
    button[disabled]{background:#9aa3b5;cursor:default}
    .refused{border-left:4px solid #b42318;background:#fdf0ef;padding:.5rem 1rem}
    footer{margin-top:2rem;font-size:.85rem}
    """

    static func document(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <meta name="referrer" content="same-origin"><meta name="robots" content="noindex">
        <title>\(escape(title))</title><style>\(style)</style></head>
        <body>
        \(body)
        </body></html>

        """
    }

    /// A source on the session page: connected in this session, or still to connect.
    struct SourceRow {
        var provider: String
        var displayName: String
        /// Connected in this session (pending until Finish).
        var connection: StoredConnection?
        /// The server has an OAuth app for it (else it cannot be connected here).
        var available: Bool
    }

    static func session(link: AuthorizationLink, token: String, rows: [SourceRow], csrf: String, now: Date) -> Page {
        let connectedCount = rows.filter { $0.connection != nil }.count
        let limitReached = link.maxSources.map { connectedCount >= $0 } ?? false
        var items = ""
        for row in rows {
            let state: String
            if let connection = row.connection {
                let account = connection.account.map { " as \(escape($0))" } ?? ""
                state = "<span class=\"state\">Connected\(account) — active after Finish</span>"
            } else if !row.available {
                state = "<span class=\"muted\">Not available on this server</span>"
            } else if limitReached {
                state = "<span class=\"muted\">Plan limit reached</span>"
            } else {
                state = """
                <form method="post" action="/l/\(escape(token))/connect/\(escape(row.provider))"><input type="hidden" name="csrf" value="\(escape(csrf))"><button type="submit">Connect</button></form>
                """
            }
            items += "<li><span>\(escape(row.displayName))</span>\(state)</li>\n"
        }
        let limit = link.maxSources.map { "<p class=\"muted\">Your plan allows up to \($0) connection\($0 == 1 ? "" : "s") in this session.</p>" } ?? ""
        let body = """
        <h1>Connect your data sources</h1>
        <p class="muted">Requested for \(escape(link.client)). Sign in to each platform with the account that holds the data and grant access. Your passwords are never shared: each platform gives access through OAuth 2.0, and you can revoke it later from that platform's settings.</p>
        <ul class="sources">
        \(items)</ul>
        \(limit)
        <p>When you have connected everything you want to share, press <strong>Finish</strong>. Nothing is used before you do.</p>
        <form method="post" action="/l/\(escape(token))/finish"><input type="hidden" name="csrf" value="\(escape(csrf))"><button class="finish" type="submit"\(connectedCount == 0 ? " disabled" : "")>Finish</button></form>
        <footer class="muted">This page works until \(escape(dateText(link.expiresAt))) and only in this browser.</footer>
        """
        return Page(status: 200, html: document(title: "Connect your data sources", body: body))
    }

    /// What a GET of an unopened link shows: nothing is used up until the client presses Start
    /// (a link preview or a mail scanner fetching the URL leaves it as it was).
    static func start(link: AuthorizationLink, token: String, sources: [String]) -> Page {
        let items = sources.map { "<li><span>\(escape($0))</span></li>" }.joined(separator: "\n")
        let body = """
        <h1>Connect your data sources</h1>
        <p class="muted">Requested for \(escape(link.client)). You will sign in to each platform with the account that holds the data and grant access. Your passwords are never shared: each platform gives access through OAuth 2.0.</p>
        <ul class="sources">
        \(items)
        </ul>
        <p>This link works once: the browser where you press <strong>Start</strong> is the only one that can use it.</p>
        <form method="post" action="/l/\(escape(token))/open"><input type="hidden" name="start" value="1"><button type="submit">Start</button></form>
        <footer class="muted">This link works until \(escape(dateText(link.expiresAt))).</footer>
        """
        return Page(status: 200, html: document(title: "Connect your data sources", body: body))
    }

    static func finished(connections: [StoredConnection], displayName: (String) -> String) -> Page {
        let items = connections.map { c in
            "<li><span>\(escape(displayName(c.provider)))</span><span class=\"state\">Active\(c.account.map { " — \(escape($0))" } ?? "")</span></li>"
        }.joined(separator: "\n")
        let body = """
        <h1>All set</h1>
        <p>These connections are now active:</p>
        <ul class="sources">
        \(items)
        </ul>
        <p class="muted">You can close this page. To stop sharing later, revoke the access from each platform's settings.</p>
        """
        return Page(status: 200, html: document(title: "All set", body: body))
    }

    /// A refused request: what happened and what to do, never which secret was wrong.
    static func refusal(status: Int, title: String, message: String, next: String = "Ask the person who sent you the link to issue a new one.", backLink: String? = nil) -> Page {
        let back = backLink.map { "<p><a href=\"\(escape($0))\">Back to your connections</a></p>" } ?? ""
        let body = """
        <h1>\(escape(title))</h1>
        <p class="refused">\(escape(message))</p>
        <p>\(escape(next))</p>
        \(back)
        """
        return Page(status: status, html: document(title: title, body: body))
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// "23 Nov 2026, 14:05 UTC" (no DateFormatter: this runs on every page).
    static func dateText(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = months[Int(parts.tm_mon) % 12]
        return "\(parts.tm_mday) \(month) \(Int(parts.tm_year) + 1900), " + String(format: "%02d:%02d UTC", Int(parts.tm_hour), Int(parts.tm_min))
    }
}
