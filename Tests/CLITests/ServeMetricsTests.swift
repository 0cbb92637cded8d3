import AuthDoctorTestSupport
import EvidenceModel
import Foundation
import HealthCheck
import Links
import Probe
import XCTest

/// `authdoctor serve` exposes `/metrics`: the latest verdict of every connection `check --db`
/// recorded in its store, as Prometheus text.
final class ServeMetricsTests: XCTestCase {
    func testMetricsShowTheLatestVerdictOfEveryCheckedConnection() throws {
        let directory = try makeTemporaryDirectory(self)
        let database = directory.appendingPathComponent("authdoctor.sqlite").path
        let key = Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        let store = try StoreLocation.openSQLite(path: database, environment: ["AUTHDOCTOR_KEY": key])
        let now = Date()
        var verdicts: [CheckVerdict] = []
        // shop-ads flips ok/critical: flapping; crm-hubspot failed long ago, passes now.
        for run in 0..<6 {
            let at = now.addingTimeInterval(Double(run - 6) * 600)
            verdicts.append(CheckVerdict(connection: "shop-ads", checkedAt: at, status: run % 2 == 0 ? "ok" : "critical",
                                         failure: run % 2 == 0 ? "none" : "expiry", summary: "run \(run)",
                                         provider: "facebook", seconds: 0.5, tokenExpiresAt: 1_900_000_000))
            verdicts.append(CheckVerdict(connection: "crm \"hubspot\"", checkedAt: at, status: run == 0 ? "critical" : "ok",
                                         failure: run == 0 ? "revoked" : "none", summary: "run \(run)"))
        }
        try store.recordVerdicts(verdicts)

        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", database, "--quiet", "--metrics-listen", "127.0.0.1:0"],
                                     environment: ["AUTHDOCTOR_KEY": key])
        defer { serve.stop() }
        let metricsURL = try XCTUnwrap(serve.metricsURL, serve.log)
        XCTAssertFalse(metricsURL.hasPrefix(serve.url + "/"), "a listener of its own")
        // Issue 12: the client-facing listener does not answer /metrics.
        XCTAssertEqual(Prober().perform(ProbeRequest(url: serve.url + "/metrics")).status, 404)
        // Nor does the metrics listener serve link pages.
        XCTAssertEqual(Prober().perform(ProbeRequest(url: metricsURL.replacingOccurrences(of: "/metrics", with: "/l/AbCdEfGhIjKlMnOpQrStUvWxYz012345"))).status, 404)

        let metrics = Prober().perform(ProbeRequest(url: metricsURL))
        XCTAssertEqual(metrics.status, 200, metrics.bodyText)
        XCTAssertTrue(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") ?? false)
        let body = metrics.bodyText
        let lastShopAds = verdicts.filter { $0.connection == "shop-ads" }.last!
        // Issue 15: the metric set of `check --format prometheus` (connection and provider labels; the
        // failure class in authdoctor_failure_info).
        XCTAssertTrue(body.contains("authdoctor_up{connection=\"shop-ads\",provider=\"facebook\"} \(lastShopAds.status == "ok" ? 1 : 0)\n"), body)
        XCTAssertTrue(body.contains("authdoctor_failure_info{connection=\"shop-ads\",provider=\"facebook\",failure=\"\(lastShopAds.failure)\"} 1\n"), body)
        XCTAssertTrue(body.contains("authdoctor_up{connection=\"crm \\\"hubspot\\\"\",provider=\"\"} 1\n"), "label values escaped: \(body)")
        XCTAssertTrue(body.contains("authdoctor_flapping{connection=\"shop-ads\",provider=\"facebook\"} 1\n"), body)
        XCTAssertTrue(body.contains("authdoctor_flapping{connection=\"crm \\\"hubspot\\\"\",provider=\"\"} 0\n"), body)
        XCTAssertTrue(body.contains("authdoctor_check_last_timestamp_seconds{connection=\"shop-ads\",provider=\"facebook\"} \(Int(lastShopAds.checkedAt.timeIntervalSince1970))\n"), body)
        XCTAssertTrue(body.contains("authdoctor_check_duration_seconds{connection=\"shop-ads\",provider=\"facebook\"} 0.500000\n"), body)
        XCTAssertTrue(body.contains("authdoctor_token_expiry_timestamp_seconds{connection=\"shop-ads\",provider=\"facebook\"} 1900000000\n"), body)
        let declared = Set(body.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        XCTAssertEqual(declared, Set(PrometheusExposition.families), "the same families as check --format prometheus")
        XCTAssertTrue(body.contains("authdoctor_check_connections{status=\"critical\"} 1\n"), body)
        // Every line is a comment or `name{labels} value` (exposition format 0.0.4).
        let sample = try NSRegularExpression(pattern: #"^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.]+$"#)
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let s = String(line)
            XCTAssertNotNil(sample.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), "not a sample line: \(s)")
        }
    }

    /// Issue 15: `GET /probe?connection=ID` checks one stored connection now (blackbox_exporter's
    /// shape) in the metric set of check, never exchanging its refresh token or recording history.
    func testProbeChecksOneStoredConnectionNow() throws {
        let directory = try makeTemporaryDirectory(self)
        let database = directory.appendingPathComponent("authdoctor.sqlite").path
        let key = Data((0..<32).map { UInt8($0 * 3) }).base64EncodedString()
        let store = try StoreLocation.open(path: database, environment: ["AUTHDOCTOR_KEY": key])
        let now = Date()
        let issued = try store.issueLink(client: "Acme", sources: [], maxSources: nil, ttl: 3600, now: now)
        let opened = try store.openLink(token: issued.token, now: now)
        let healthy = try store.addConnection(sessionID: opened.session.id, provider: "facebook", account: nil,
                                              tokens: ProviderTokens(accessToken: "sbx-fb-healthy", refreshToken: nil, expiresAt: nil), now: now)
        let expired = try store.addConnection(sessionID: opened.session.id, provider: "facebook", account: nil,
                                              tokens: ProviderTokens(accessToken: "sbx-fb-expired", refreshToken: nil, expiresAt: nil), now: now)
        _ = try store.finishSession(id: opened.session.id, now: now)

        let serve = try ServeProcess(["--sandbox", "--port", "0", "--db", database, "--quiet", "--metrics-listen", "127.0.0.1:0"],
                                     environment: ["AUTHDOCTOR_KEY": key])
        defer { serve.stop() }
        let base = try XCTUnwrap(serve.metricsURL, serve.log).replacingOccurrences(of: "/metrics", with: "")
        let good = Prober().perform(ProbeRequest(url: base + "/probe?connection=" + healthy.id, totalTimeout: 60))
        XCTAssertEqual(good.status, 200, good.bodyText)
        XCTAssertTrue(good.bodyText.contains("probe_success 1\n"), good.bodyText)
        XCTAssertTrue(good.bodyText.contains("authdoctor_up{connection=\"\(healthy.id)\",provider=\"facebook\"} 1\n"), good.bodyText)
        let bad = Prober().perform(ProbeRequest(url: base + "/probe?connection=" + expired.id, totalTimeout: 60))
        XCTAssertEqual(bad.status, 200, bad.bodyText)
        XCTAssertTrue(bad.bodyText.contains("probe_success 0\n"), bad.bodyText)
        XCTAssertTrue(bad.bodyText.contains("authdoctor_failure_info{connection=\"\(expired.id)\",provider=\"facebook\",failure=\"expiry\"} 1\n"), bad.bodyText)
        for secret in ["sbx-fb-healthy", "sbx-fb-expired"] { XCTAssertFalse(good.bodyText.contains(secret) || bad.bodyText.contains(secret)) }
        let unknown = Prober().perform(ProbeRequest(url: base + "/probe?connection=con_nope", totalTimeout: 60))
        XCTAssertEqual(unknown.status, 404, unknown.bodyText)
        XCTAssertEqual(Prober().perform(ProbeRequest(url: base + "/probe", totalTimeout: 60)).status, 400)
        // Not on the client-facing listener, and nothing recorded.
        XCTAssertEqual(Prober().perform(ProbeRequest(url: serve.url + "/probe?connection=" + healthy.id)).status, 404)
        XCTAssertEqual(try store.verdicts(connection: healthy.id, limit: 5).count, 0, "a probe records no history")
    }

    /// Issue 12, item 15: by default no /metrics on the client-facing listener; with
    /// AUTHDOCTOR_METRICS_TOKEN it answers only with that bearer token.
    func testMetricsAreOffByDefaultAndBehindTheBearerToken() throws {
        let directory = try makeTemporaryDirectory(self)
        let database = directory.appendingPathComponent("authdoctor.sqlite").path
        let plain = try ServeProcess(["--sandbox", "--port", "0", "--db", database, "--quiet"])
        XCTAssertEqual(Prober().perform(ProbeRequest(url: plain.url + "/metrics")).status, 404)
        XCTAssertTrue(plain.log.contains("/metrics is off"), plain.log)
        plain.stop()

        let token = "mt-" + LinkSecrets.newSecret()
        let guarded = try ServeProcess(["--sandbox", "--port", "0", "--db", database], environment: ["AUTHDOCTOR_METRICS_TOKEN": token])
        let url = guarded.url + "/metrics"
        XCTAssertEqual(Prober().perform(ProbeRequest(url: url)).status, 401)
        XCTAssertEqual(Prober().perform(ProbeRequest(url: url, headers: [HTTPHeader("Authorization", "Bearer wrong")])).status, 401)
        XCTAssertEqual(Prober().perform(ProbeRequest(url: url, headers: [HTTPHeader("Authorization", "Bearer " + token + "x")])).status, 401)
        let ok = Prober().perform(ProbeRequest(url: url, headers: [HTTPHeader("Authorization", "Bearer " + token)]))
        XCTAssertEqual(ok.status, 200, ok.bodyText)
        XCTAssertTrue(ok.bodyText.contains("authdoctor_check_connections"), ok.bodyText)
        let log = guarded.stop()
        XCTAssertFalse(log.contains(token), "the metrics token is never logged")
    }
}
