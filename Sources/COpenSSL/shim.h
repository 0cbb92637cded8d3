#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/bio.h>

// Swift cannot call C macros or variadic functions. These static-inline wrappers give the Sandbox's
// self-signed TLS listener typed entry points for the few it needs (OpenSSL 3 API).

/// A fresh P-256 key (EVP_EC_gen is a macro over the variadic EVP_PKEY_Q_keygen). NULL on failure.
static inline EVP_PKEY *copenssl_generate_p256_key(void) {
    return EVP_EC_gen("P-256");
}

/// Refuses protocol versions below TLS 1.2 (SSL_CTX_set_min_proto_version is a macro). 1 on success.
static inline int copenssl_ctx_require_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// Adds an X.509 v3 extension written the way openssl.cnf writes it ("IP:127.0.0.1,DNS:localhost").
/// The certificate is its own issuer (self-signed). X509V3_CTX is a struct Swift would have to lay
/// out itself, so the whole step stays in C. 1 on success.
static inline int copenssl_add_self_signed_extension(X509 *cert, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (extension == NULL) return 0;
    int added = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    return added;
}
