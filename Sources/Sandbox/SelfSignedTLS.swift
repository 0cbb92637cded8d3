// The `tls-self-signed` fault: a key and certificate made in memory at start-up, signed by nobody,
// served with OpenSSL. No file is written and no command is run.

import COpenSSL
import Foundation

/// A P-256 key, a self-signed certificate for localhost / 127.0.0.1, and a server SSL_CTX using them.
/// The SSL_CTX is only read after set-up, which OpenSSL allows from many threads at once.
final class SelfSignedTLS: @unchecked Sendable {
    private let context: OpaquePointer
    /// The certificate in PEM form: a test can trust it to show the endpoint itself works.
    let certificatePEM: String

    init() throws(SandboxError) {
        // Before OpenSSL's first use in a process that has no libcurl yet (see Probe's OpenSSLExitHandler).
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
        ERR_clear_error()
        guard let key = copenssl_generate_p256_key() else { throw .tls("key generation: \(Self.lastError())") }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw .tls("X509_new: \(Self.lastError())") }
        defer { X509_free(certificate) }

        let serial = UInt64.random(in: 1...UInt64(Int64.max))
        var made = X509_set_version(certificate, 2) == 1  // 2 means v3 (extensions allowed)
        made = made && ASN1_INTEGER_set_uint64(X509_get_serialNumber(certificate), serial) == 1
        // Valid from a minute ago (clock skew) for a week: long enough for any sandbox run.
        made = made && X509_gmtime_adj(X509_getm_notBefore(certificate), -60) != nil
        made = made && X509_gmtime_adj(X509_getm_notAfter(certificate), 7 * 24 * 3600) != nil
        made = made && X509_set_pubkey(certificate, key) == 1
        let name = X509_get_subject_name(certificate)
        for (field, value) in [("O", "authdoctor sandbox (self-signed, trusted by nobody)"), ("CN", "localhost")] {
            let bytes = Array(value.utf8)
            made = made && X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, bytes, Int32(bytes.count), -1, 0) == 1
        }
        made = made && X509_set_issuer_name(certificate, name) == 1
        // The names match, so a client fails on trust alone (self-signed), never on the host name.
        made = made && copenssl_add_self_signed_extension(certificate, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") == 1
        made = made && copenssl_add_self_signed_extension(certificate, NID_basic_constraints, "critical,CA:TRUE") == 1
        made = made && copenssl_add_self_signed_extension(certificate, NID_subject_key_identifier, "hash") == 1
        made = made && X509_sign(certificate, key, EVP_sha256()) > 0
        guard made else { throw .tls("certificate: \(Self.lastError())") }

        guard let context = SSL_CTX_new(TLS_server_method()) else { throw .tls("SSL_CTX_new: \(Self.lastError())") }
        guard copenssl_ctx_require_tls12(context) == 1,
              SSL_CTX_use_certificate(context, certificate) == 1,
              SSL_CTX_use_PrivateKey(context, key) == 1,
              SSL_CTX_check_private_key(context) == 1 else {
            let message = Self.lastError()
            SSL_CTX_free(context)
            throw .tls("SSL_CTX: \(message)")
        }
        guard let pem = Self.pem(certificate) else {
            SSL_CTX_free(context)
            throw .tls("PEM encoding: \(Self.lastError())")
        }
        self.context = context
        self.certificatePEM = pem
    }

    deinit { SSL_CTX_free(context) }

    /// Runs the server handshake on an accepted socket. On failure (a verifying client refuses the
    /// certificate and sends an alert) returns nil and the reason OpenSSL gives.
    func accept(_ fd: Int32) -> (stream: TLSStream?, failure: String?) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { return (nil, Self.lastError()) }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return (nil, Self.lastError())
        }
        let rc = SSL_accept(ssl)
        guard rc == 1 else {
            let error = SSL_get_error(ssl, rc)
            let reason = error == SSL_ERROR_SSL ? Self.lastError() : (error == SSL_ERROR_SYSCALL ? "connection closed during the handshake" : "handshake error \(error)")
            SSL_free(ssl)
            ERR_clear_error()
            return (nil, reason)
        }
        return (TLSStream(fd: fd, ssl: ssl), nil)
    }

    private static func pem(_ certificate: OpaquePointer) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, certificate) == 1 else { return nil }
        let length = Int(BIO_ctrl_pending(bio))
        var bytes = [UInt8](repeating: 0, count: length)
        guard BIO_read(bio, &bytes, Int32(length)) == Int32(length) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// OpenSSL's reason for the last failure on this thread ("tlsv1 alert unknown ca").
    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown OpenSSL error" }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        return "OpenSSL error \(code)"
    }
}

/// Application data over an established TLS session. Confined to the thread serving the connection.
final class TLSStream: ByteStream {
    let fd: Int32
    private let ssl: OpaquePointer

    init(fd: Int32, ssl: OpaquePointer) {
        self.fd = fd
        self.ssl = ssl
    }

    deinit {
        // A close_notify, without waiting for the peer's (the socket closes right after).
        ERR_clear_error()
        SSL_shutdown(ssl)
        SSL_free(ssl)
        ERR_clear_error()
    }

    var hasBufferedInput: Bool { SSL_pending(ssl) > 0 }

    func receive(into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        ERR_clear_error()
        let n = SSL_read(ssl, &chunk, Int32(chunk.count))
        guard n > 0 else {
            ERR_clear_error()
            return false
        }
        buffer.append(contentsOf: chunk[..<Int(n)])
        return true
    }

    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard n > 0 else {
                ERR_clear_error()
                return false
            }
            offset += Int(n)
        }
        return true
    }
}
