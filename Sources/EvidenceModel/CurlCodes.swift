// CURLcode names, texts and transport classes for libcurl 7.88 (codes 0...99).
// Pure Swift on purpose: `classify --curl-exit N` uses it offline, without libcurl.
// The `curl` command-line tool's exit codes are the same numbers, so both can be passed here.

public enum CurlCodes {
    /// The highest CURLcode libcurl 7.88 defines (CURLE_UNRECOVERABLE_POLL).
    public static let maxKnownCode = 99

    /// The symbolic name, e.g. `CURLE_COULDNT_RESOLVE_HOST` for 6; unknown codes give `CURLE_UNKNOWN_<n>`.
    public static func name(_ code: Int) -> String {
        guard code >= 0, code < table.count else { return "CURLE_UNKNOWN_\(code)" }
        return table[code].name
    }

    /// A short English text, like `curl_easy_strerror` gives.
    public static func summary(_ code: Int) -> String {
        guard code >= 0, code < table.count else { return "Unknown error (code \(code))" }
        return table[code].summary
    }

    /// The transport class of a failure: nil for 0 (no error); otherwise one of
    /// "dns", "refused", "timeout", "tls", "reset", "proxy", "too-many-redirects", "other".
    public static func transportError(_ code: Int) -> String? {
        switch code {
        case 0: return nil
        case 6: return "dns"
        case 5, 97: return "proxy"
        case 7: return "refused"
        case 28: return "timeout"
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98: return "tls"
        case 18, 52, 55, 56: return "reset"
        case 47: return "too-many-redirects"
        default: return "other"
        }
    }

    /// The code for a name (`CURLE_...`), or nil when the name is not a libcurl 7.88 code.
    public static func code(named name: String) -> Int? {
        table.firstIndex { $0.name == name }
    }

    private static let table: [(name: String, summary: String)] = [
        ("CURLE_OK", "No error"),  // 0
        ("CURLE_UNSUPPORTED_PROTOCOL", "Unsupported protocol"),  // 1
        ("CURLE_FAILED_INIT", "Failed initialization"),  // 2
        ("CURLE_URL_MALFORMAT", "URL using bad/illegal format or missing URL"),  // 3
        ("CURLE_NOT_BUILT_IN", "A requested feature, protocol or option was not built into this libcurl"),  // 4
        ("CURLE_COULDNT_RESOLVE_PROXY", "Couldn't resolve proxy name"),  // 5
        ("CURLE_COULDNT_RESOLVE_HOST", "Couldn't resolve host name"),  // 6
        ("CURLE_COULDNT_CONNECT", "Couldn't connect to server"),  // 7
        ("CURLE_WEIRD_SERVER_REPLY", "Weird server reply"),  // 8
        ("CURLE_REMOTE_ACCESS_DENIED", "Access denied to remote resource"),  // 9
        ("CURLE_FTP_ACCEPT_FAILED", "FTP: The server failed to connect to data port"),  // 10
        ("CURLE_FTP_WEIRD_PASS_REPLY", "FTP: unknown PASS reply"),  // 11
        ("CURLE_FTP_ACCEPT_TIMEOUT", "FTP: Accepting server connect has timed out"),  // 12
        ("CURLE_FTP_WEIRD_PASV_REPLY", "FTP: unknown PASV reply"),  // 13
        ("CURLE_FTP_WEIRD_227_FORMAT", "FTP: unknown 227 response format"),  // 14
        ("CURLE_FTP_CANT_GET_HOST", "FTP: can't figure out the host in the PASV response"),  // 15
        ("CURLE_HTTP2", "Error in the HTTP2 framing layer"),  // 16
        ("CURLE_FTP_COULDNT_SET_TYPE", "FTP: couldn't set file type"),  // 17
        ("CURLE_PARTIAL_FILE", "Transferred a partial file"),  // 18
        ("CURLE_FTP_COULDNT_RETR_FILE", "FTP: couldn't retrieve (RETR failed) the specified file"),  // 19
        ("CURLE_OBSOLETE20", "Unused error code (obsolete since libcurl 7.x; was FTP: weird USER reply)"),  // 20
        ("CURLE_QUOTE_ERROR", "Quote command returned error"),  // 21
        ("CURLE_HTTP_RETURNED_ERROR", "HTTP response code said error"),  // 22
        ("CURLE_WRITE_ERROR", "Failed writing received data to disk/application"),  // 23
        ("CURLE_OBSOLETE24", "Unused error code (obsolete; was malformed user name)"),  // 24
        ("CURLE_UPLOAD_FAILED", "Upload failed (at start/before it took off)"),  // 25
        ("CURLE_READ_ERROR", "Failed to open/read local data from file/application"),  // 26
        ("CURLE_OUT_OF_MEMORY", "Out of memory"),  // 27
        ("CURLE_OPERATION_TIMEDOUT", "Timeout was reached"),  // 28
        ("CURLE_OBSOLETE29", "Unused error code (obsolete; was FTP: couldn't set ASCII mode)"),  // 29
        ("CURLE_FTP_PORT_FAILED", "FTP: command PORT failed"),  // 30
        ("CURLE_FTP_COULDNT_USE_REST", "FTP: command REST failed"),  // 31
        ("CURLE_OBSOLETE32", "Unused error code (obsolete; was FTP: couldn't get file size)"),  // 32
        ("CURLE_RANGE_ERROR", "Requested range was not delivered by the server"),  // 33
        ("CURLE_HTTP_POST_ERROR", "Internal problem setting up the POST"),  // 34
        ("CURLE_SSL_CONNECT_ERROR", "SSL connect error"),  // 35
        ("CURLE_BAD_DOWNLOAD_RESUME", "Couldn't resume download"),  // 36
        ("CURLE_FILE_COULDNT_READ_FILE", "Couldn't read a file:// file"),  // 37
        ("CURLE_LDAP_CANNOT_BIND", "LDAP: cannot bind"),  // 38
        ("CURLE_LDAP_SEARCH_FAILED", "LDAP: search failed"),  // 39
        ("CURLE_OBSOLETE40", "Unused error code (obsolete; was library not found)"),  // 40
        ("CURLE_FUNCTION_NOT_FOUND", "A required function in the library was not found"),  // 41
        ("CURLE_ABORTED_BY_CALLBACK", "Operation was aborted by an application callback"),  // 42
        ("CURLE_BAD_FUNCTION_ARGUMENT", "A libcurl function was given a bad argument"),  // 43
        ("CURLE_OBSOLETE44", "Unused error code (obsolete; was bad calling order)"),  // 44
        ("CURLE_INTERFACE_FAILED", "Failed binding local connection end"),  // 45
        ("CURLE_OBSOLETE46", "Unused error code (obsolete; was bad password entered)"),  // 46
        ("CURLE_TOO_MANY_REDIRECTS", "Number of redirects hit maximum amount"),  // 47
        ("CURLE_UNKNOWN_OPTION", "An unknown option was passed in to libcurl"),  // 48
        ("CURLE_SETOPT_OPTION_SYNTAX", "Malformed option provided in a setopt"),  // 49
        ("CURLE_OBSOLETE50", "Unused error code (obsolete)"),  // 50
        ("CURLE_OBSOLETE51", "SSL peer certificate was not OK (obsolete code: libcurl before 7.62 used 51 for this, now 60)"),  // 51
        ("CURLE_GOT_NOTHING", "Server returned nothing (no headers, no data)"),  // 52
        ("CURLE_SSL_ENGINE_NOTFOUND", "SSL crypto engine not found"),  // 53
        ("CURLE_SSL_ENGINE_SETFAILED", "Can not set SSL crypto engine as default"),  // 54
        ("CURLE_SEND_ERROR", "Failed sending data to the peer"),  // 55
        ("CURLE_RECV_ERROR", "Failure when receiving data from the peer"),  // 56
        ("CURLE_OBSOLETE57", "Unused error code (obsolete; was share in use)"),  // 57
        ("CURLE_SSL_CERTPROBLEM", "Problem with the local SSL certificate"),  // 58
        ("CURLE_SSL_CIPHER", "Couldn't use specified SSL cipher"),  // 59
        ("CURLE_PEER_FAILED_VERIFICATION", "SSL peer certificate or SSH remote key was not OK"),  // 60
        ("CURLE_BAD_CONTENT_ENCODING", "Unrecognized or bad HTTP Content or Transfer-Encoding"),  // 61
        ("CURLE_OBSOLETE62", "Unused error code (obsolete since 7.82.0; was invalid LDAP URL)"),  // 62
        ("CURLE_FILESIZE_EXCEEDED", "Maximum file size exceeded"),  // 63
        ("CURLE_USE_SSL_FAILED", "Requested SSL level failed"),  // 64
        ("CURLE_SEND_FAIL_REWIND", "Send failed since rewinding of the data stream failed"),  // 65
        ("CURLE_SSL_ENGINE_INITFAILED", "Failed to initialise SSL crypto engine"),  // 66
        ("CURLE_LOGIN_DENIED", "Login denied"),  // 67
        ("CURLE_TFTP_NOTFOUND", "TFTP: File Not Found"),  // 68
        ("CURLE_TFTP_PERM", "TFTP: Access Violation"),  // 69
        ("CURLE_REMOTE_DISK_FULL", "Disk full or allocation exceeded"),  // 70
        ("CURLE_TFTP_ILLEGAL", "TFTP: Illegal operation"),  // 71
        ("CURLE_TFTP_UNKNOWNID", "TFTP: Unknown transfer ID"),  // 72
        ("CURLE_REMOTE_FILE_EXISTS", "Remote file already exists"),  // 73
        ("CURLE_TFTP_NOSUCHUSER", "TFTP: No such user"),  // 74
        ("CURLE_OBSOLETE75", "Unused error code (obsolete since 7.82.0; was character conversion failed)"),  // 75
        ("CURLE_OBSOLETE76", "Unused error code (obsolete since 7.82.0; was character conversion functions required)"),  // 76
        ("CURLE_SSL_CACERT_BADFILE", "Problem with the SSL CA cert (path? access rights?)"),  // 77
        ("CURLE_REMOTE_FILE_NOT_FOUND", "Remote file not found"),  // 78
        ("CURLE_SSH", "Error in the SSH layer"),  // 79
        ("CURLE_SSL_SHUTDOWN_FAILED", "Failed to shut down the SSL connection"),  // 80
        ("CURLE_AGAIN", "Socket not ready for send/recv"),  // 81
        ("CURLE_SSL_CRL_BADFILE", "Failed to load CRL file (path? access rights?, format?)"),  // 82
        ("CURLE_SSL_ISSUER_ERROR", "Issuer check against peer certificate failed"),  // 83
        ("CURLE_FTP_PRET_FAILED", "FTP: The server did not accept the PRET command."),  // 84
        ("CURLE_RTSP_CSEQ_ERROR", "RTSP CSeq mismatch or invalid CSeq"),  // 85
        ("CURLE_RTSP_SESSION_ERROR", "RTSP session error"),  // 86
        ("CURLE_FTP_BAD_FILE_LIST", "Unable to parse FTP file list"),  // 87
        ("CURLE_CHUNK_FAILED", "Chunk callback failed"),  // 88
        ("CURLE_NO_CONNECTION_AVAILABLE", "The max connection limit is reached"),  // 89
        ("CURLE_SSL_PINNEDPUBKEYNOTMATCH", "SSL public key does not match pinned public key"),  // 90
        ("CURLE_SSL_INVALIDCERTSTATUS", "SSL server certificate status verification FAILED"),  // 91
        ("CURLE_HTTP2_STREAM", "Stream error in the HTTP/2 framing layer"),  // 92
        ("CURLE_RECURSIVE_API_CALL", "API function called from within callback"),  // 93
        ("CURLE_AUTH_ERROR", "An authentication function returned an error"),  // 94
        ("CURLE_HTTP3", "HTTP/3 error"),  // 95
        ("CURLE_QUIC_CONNECT_ERROR", "QUIC connection error"),  // 96
        ("CURLE_PROXY", "proxy handshake error"),  // 97
        ("CURLE_SSL_CLIENTCERT", "SSL Client Certificate required"),  // 98
        ("CURLE_UNRECOVERABLE_POLL", "Unrecoverable error in select/poll"),  // 99
    ]
}
