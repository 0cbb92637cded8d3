#ifndef AUTHDOCTOR_CCURL_H
#define AUTHDOCTOR_CCURL_H

// libcurl for the Probe module: found with dlopen on first use (CCurl.c), so the commands that never
// probe (classify, rules, links, ...) start without loading libcurl and the ~27 libraries it pulls
// in (krb5, ldap, gnutls, ssh2, ...). Typed, non-variadic wrappers around the variadic
// setopt/getinfo calls let Swift call them. Only Probe imports this; no C type crosses its public API.

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <sys/types.h>

/// libcurl's entry points that authdoctor uses, bound by name from the loaded library.
struct ccurl_functions {
    CURLcode (*global_init)(long flags);
    char *(*version)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    void (*easy_reset)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *handle);
    CURLMcode (*multi_perform)(CURLM *multi, int *running);
    CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int *ret);
    CURLMcode (*multi_wakeup)(CURLM *multi);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *queued);
    CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
    const char *(*multi_strerror)(CURLMcode code);
    CURLSHcode (*share_setopt)(CURLSH *share, CURLSHoption option, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
};

/// Loads libcurl once (AUTHDOCTOR_LIBCURL names another file than libcurl.so.4): 1 when loaded,
/// 0 when not, with ccurl_load_error() saying why. Safe from any thread.
int ccurl_load(void);
/// Why libcurl could not be loaded (dlerror's words), or NULL when it was.
const char *ccurl_load_error(void);
/// The bound functions. Aborts with ccurl_load_error() when libcurl is missing: callers go through
/// CurlGlobal, which checks ccurl_load() first and reports a clear error instead.
const struct ccurl_functions *ccurl_api(void);

// MARK: the plain calls

static inline CURLcode ccurl_global_init(long flags) { return ccurl_api()->global_init(flags); }
static inline char *ccurl_version(void) { return ccurl_api()->version(); }
static inline CURL *ccurl_easy_init(void) { return ccurl_api()->easy_init(); }
static inline void ccurl_easy_cleanup(CURL *handle) { ccurl_api()->easy_cleanup(handle); }
static inline void ccurl_easy_reset(CURL *handle) { ccurl_api()->easy_reset(handle); }
static inline CURLcode ccurl_easy_perform(CURL *handle) { return ccurl_api()->easy_perform(handle); }
static inline const char *ccurl_easy_strerror(CURLcode code) { return ccurl_api()->easy_strerror(code); }
static inline CURLM *ccurl_multi_init(void) { return ccurl_api()->multi_init(); }
static inline CURLMcode ccurl_multi_cleanup(CURLM *multi) { return ccurl_api()->multi_cleanup(multi); }
static inline CURLMcode ccurl_multi_add_handle(CURLM *multi, CURL *handle) { return ccurl_api()->multi_add_handle(multi, handle); }
static inline CURLMcode ccurl_multi_remove_handle(CURLM *multi, CURL *handle) { return ccurl_api()->multi_remove_handle(multi, handle); }
static inline CURLMcode ccurl_multi_perform(CURLM *multi, int *running) { return ccurl_api()->multi_perform(multi, running); }
static inline CURLMcode ccurl_multi_poll(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int *ret) {
    return ccurl_api()->multi_poll(multi, extra_fds, extra_nfds, timeout_ms, ret);
}
static inline CURLMcode ccurl_multi_wakeup(CURLM *multi) { return ccurl_api()->multi_wakeup(multi); }
static inline CURLMsg *ccurl_multi_info_read(CURLM *multi, int *queued) { return ccurl_api()->multi_info_read(multi, queued); }
static inline const char *ccurl_multi_strerror(CURLMcode code) { return ccurl_api()->multi_strerror(code); }
static inline struct curl_slist *ccurl_slist_append(struct curl_slist *list, const char *string) { return ccurl_api()->slist_append(list, string); }
static inline void ccurl_slist_free_all(struct curl_slist *list) { ccurl_api()->slist_free_all(list); }

typedef size_t (*ccurl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
typedef int (*ccurl_xferinfo_callback)(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
                                       curl_off_t ultotal, curl_off_t ulnow);

// MARK: curl_easy_setopt, one wrapper per argument type

static inline CURLcode ccurl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return ccurl_api()->easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return ccurl_api()->easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return ccurl_api()->easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return ccurl_api()->easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return ccurl_api()->easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_share(CURL *handle, CURLSH *share) {
    return ccurl_api()->easy_setopt(handle, CURLOPT_SHARE, share);
}

static inline CURLcode ccurl_easy_setopt_write_function(CURL *handle, ccurl_data_callback fn) {
    return ccurl_api()->easy_setopt(handle, CURLOPT_WRITEFUNCTION, fn);
}

static inline CURLcode ccurl_easy_setopt_header_function(CURL *handle, ccurl_data_callback fn) {
    return ccurl_api()->easy_setopt(handle, CURLOPT_HEADERFUNCTION, fn);
}

static inline CURLcode ccurl_easy_setopt_xferinfo_function(CURL *handle, ccurl_xferinfo_callback fn) {
    return ccurl_api()->easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, fn);
}

// MARK: curl_easy_getinfo

static inline CURLcode ccurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *out) {
    return ccurl_api()->easy_getinfo(handle, info, out);
}

static inline CURLcode ccurl_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *out) {
    return ccurl_api()->easy_getinfo(handle, info, out);
}

static inline CURLcode ccurl_easy_getinfo_double(CURL *handle, CURLINFO info, double *out) {
    return ccurl_api()->easy_getinfo(handle, info, out);
}

static inline CURLcode ccurl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **out) {
    char *value = NULL;
    CURLcode rc = ccurl_api()->easy_getinfo(handle, info, &value);
    *out = value;
    return rc;
}

static inline CURLcode ccurl_easy_getinfo_slist(CURL *handle, CURLINFO info, struct curl_slist **out) {
    return ccurl_api()->easy_getinfo(handle, info, out);
}

// MARK: curl_multi_setopt / curl_share_setopt

static inline CURLMcode ccurl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return ccurl_api()->multi_setopt(multi, option, value);
}

static inline CURLSHcode ccurl_share_setopt_long(CURLSH *share, CURLSHoption option, long value) {
    return ccurl_api()->share_setopt(share, option, value);
}

// MARK: constants Swift cannot import (function-like or computed macros)

static inline long ccurl_global_all(void) { return CURL_GLOBAL_ALL; }

// MARK: OpenSSL, which libcurl (and libpq) bring along

/// Asks OpenSSL not to register its exit handler. Only the first initialisation in a process decides,
/// so this must run before libcurl, libpq or the Sandbox touch OpenSSL. The handler frees every
/// thread's OpenSSL state from the exiting thread, racing with threads still ending (the libcurl
/// engine's, the Sandbox's): a double free at exit (openssl/openssl#6214). The kernel frees it all
/// anyway. 1 on success.
static inline int ccurl_openssl_without_exit_handler(void) {
    return OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

#endif
