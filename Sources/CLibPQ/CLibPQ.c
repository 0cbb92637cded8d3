#include "CLibPQ.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__APPLE__)
static const char *const default_library = "libpq.5.dylib";
#else
static const char *const default_library = "libpq.so.5";
#endif

static struct cpq_functions functions;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char problem[640];

static void load(void) {
    const char *path = getenv("AUTHDOCTOR_LIBPQ");
    if (path == NULL || *path == '\0') path = default_library;
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(problem, sizeof problem,
                 "libpq could not be loaded (%s): install it (Debian: apt-get install libpq5) or name the library file in AUTHDOCTOR_LIBPQ",
                 reason ? reason : path);
        return;
    }
#define BIND(name) \
    if ((*(void **)&functions.name = dlsym(library, #name)) == NULL) { \
        snprintf(problem, sizeof problem, "libpq could not be loaded (%s has no %s): libpq 10 or later is needed", path, #name); \
        return; \
    }
    BIND(PQclear);
    BIND(PQcmdTuples);
    BIND(PQconnectPoll);
    BIND(PQconnectStartParams);
    BIND(PQconnectdbParams);
    BIND(PQconninfoFree);
    BIND(PQconninfoParse);
    BIND(PQconsumeInput);
    BIND(PQerrorMessage);
    BIND(PQexecParams);
    BIND(PQexecPrepared);
    BIND(PQfinish);
    BIND(PQflush);
    BIND(PQfreemem);
    BIND(PQgetResult);
    BIND(PQgetisnull);
    BIND(PQgetvalue);
    BIND(PQisBusy);
    BIND(PQnfields);
    BIND(PQntuples);
    BIND(PQprepare);
    BIND(PQresultErrorMessage);
    BIND(PQresultStatus);
    BIND(PQsendQueryParams);
    BIND(PQserverVersion);
    BIND(PQsetNoticeProcessor);
    BIND(PQsocket);
    BIND(PQsslAttribute);
    BIND(PQsslInUse);
    BIND(PQstatus);
    BIND(PQresultErrorField);
#undef BIND
    loaded = 1;
}

const char *cpq_load_problem(void) {
    pthread_once(&load_once, load);
    return loaded ? NULL : problem;
}

const struct cpq_functions *cpq_api(void) {
    if (cpq_load_problem() != NULL) {
        // Reached only when a caller skipped the check: say why rather than jump to NULL.
        fprintf(stderr, "authdoctor: %s\n", problem);
        abort();
    }
    return &functions;
}
