#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__APPLE__)
static const char *const default_library = "libcurl.4.dylib";
#else
static const char *const default_library = "libcurl.so.4";
#endif

static struct ccurl_functions functions;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char load_error[512];

static int bind_symbol(void *library, const char *path, void **slot, const char *name) {
    *slot = dlsym(library, name);
    if (*slot == NULL) {
        snprintf(load_error, sizeof load_error, "%s has no %s (libcurl 7.68 or later is needed)", path, name);
        return 0;
    }
    return 1;
}

static void load(void) {
    const char *path = getenv("AUTHDOCTOR_LIBCURL");
    if (path == NULL || *path == '\0') path = default_library;
    // RTLD_LOCAL: libcurl's symbols stay out of the global scope; its dependencies resolve as usual.
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error, "%s", reason ? reason : path);
        return;
    }
#define BIND(field, name) if (!bind_symbol(library, path, (void **)&functions.field, name)) return
    BIND(global_init, "curl_global_init");
    BIND(version, "curl_version");
    BIND(easy_init, "curl_easy_init");
    BIND(easy_cleanup, "curl_easy_cleanup");
    BIND(easy_reset, "curl_easy_reset");
    BIND(easy_perform, "curl_easy_perform");
    BIND(easy_setopt, "curl_easy_setopt");
    BIND(easy_getinfo, "curl_easy_getinfo");
    BIND(easy_strerror, "curl_easy_strerror");
    BIND(multi_init, "curl_multi_init");
    BIND(multi_cleanup, "curl_multi_cleanup");
    BIND(multi_add_handle, "curl_multi_add_handle");
    BIND(multi_remove_handle, "curl_multi_remove_handle");
    BIND(multi_perform, "curl_multi_perform");
    BIND(multi_poll, "curl_multi_poll");
    BIND(multi_wakeup, "curl_multi_wakeup");
    BIND(multi_info_read, "curl_multi_info_read");
    BIND(multi_setopt, "curl_multi_setopt");
    BIND(multi_strerror, "curl_multi_strerror");
    BIND(share_setopt, "curl_share_setopt");
    BIND(slist_append, "curl_slist_append");
    BIND(slist_free_all, "curl_slist_free_all");
#undef BIND
    loaded = 1;
}

int ccurl_load(void) {
    pthread_once(&load_once, load);
    return loaded;
}

const char *ccurl_load_error(void) {
    return ccurl_load() ? NULL : load_error;
}

const struct ccurl_functions *ccurl_api(void) {
    if (!ccurl_load()) {
        // Reached only when a caller skipped CurlGlobal's check: say why rather than jump to NULL.
        fprintf(stderr, "authdoctor: libcurl could not be loaded: %s\n", load_error);
        abort();
    }
    return &functions;
}
