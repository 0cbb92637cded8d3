import AuthDoctorTestSupport
import EvidenceModel
import Foundation
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
                                         failure: run % 2 == 0 ? "none" : "expiry", summary: "run \(run)"))
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
        XCTAssertTrue(body.contains("authdoctor_up{connection=\"shop-ads\",failure=\"\(lastShopAds.failure)\"} \(lastShopAds.status == "ok" ? 1 : 0)\n"), body)
        XCTAssertTrue(body.contains("authdoctor_up{connection=\"crm \\\"hubspot\\\"\",failure=\"none\"} 1\n"), "label values escaped: \(body)")
        XCTAssertTrue(body.contains("authdoctor_flapping{connection=\"shop-ads\"} 1\n"), body)
        XCTAssertTrue(body.contains("authdoctor_flapping{connection=\"crm \\\"hubspot\\\"\"} 0\n"), body)
        XCTAssertTrue(body.contains("authdoctor_check_last_timestamp_seconds{connection=\"shop-ads\"} \(Int(lastShopAds.checkedAt.timeIntervalSince1970))\n"), body)
        XCTAssertTrue(body.contains("authdoctor_check_connections{status=\"critical\"} 1\n"), body)
        // Every line is a comment or `name{labels} value` (exposition format 0.0.4).
        let sample = try NSRegularExpression(pattern: #"^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.]+$"#)
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let s = String(line)
            XCTAssertNotNil(sample.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), "not a sample line: \(s)")
        }
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
