#ifndef AUTHDOCTOR_CLIBPQ_H
#define AUTHDOCTOR_CLIBPQ_H
// libpq (PostgreSQL's client library) for the database diagnosis and the PostgreSQL store. Its headers
// (apt libpq-dev) are needed to build; the library itself is loaded with dlopen on first use
// (CLibPQ.c), so commands that never touch PostgreSQL start without libpq and the Kerberos, LDAP and
// GnuTLS libraries it pulls in. Swift calls `cpq_api().pointee.PQstatus(...)` through `libpq`.
#include <postgresql/libpq-fe.h>

/// libpq's functions that authdoctor uses, under their own names, bound from the loaded library.
struct cpq_functions {
    __typeof__(PQclear) *_Nonnull PQclear;
    __typeof__(PQcmdTuples) *_Nonnull PQcmdTuples;
    __typeof__(PQconnectPoll) *_Nonnull PQconnectPoll;
    __typeof__(PQconnectStartParams) *_Nonnull PQconnectStartParams;
    __typeof__(PQconnectdbParams) *_Nonnull PQconnectdbParams;
    __typeof__(PQconninfoFree) *_Nonnull PQconninfoFree;
    __typeof__(PQconninfoParse) *_Nonnull PQconninfoParse;
    __typeof__(PQconsumeInput) *_Nonnull PQconsumeInput;
    __typeof__(PQerrorMessage) *_Nonnull PQerrorMessage;
    __typeof__(PQexecParams) *_Nonnull PQexecParams;
    __typeof__(PQexecPrepared) *_Nonnull PQexecPrepared;
    __typeof__(PQfinish) *_Nonnull PQfinish;
    __typeof__(PQflush) *_Nonnull PQflush;
    __typeof__(PQfreemem) *_Nonnull PQfreemem;
    __typeof__(PQgetResult) *_Nonnull PQgetResult;
    __typeof__(PQgetisnull) *_Nonnull PQgetisnull;
    __typeof__(PQgetvalue) *_Nonnull PQgetvalue;
    __typeof__(PQisBusy) *_Nonnull PQisBusy;
    __typeof__(PQnfields) *_Nonnull PQnfields;
    __typeof__(PQntuples) *_Nonnull PQntuples;
    __typeof__(PQprepare) *_Nonnull PQprepare;
    __typeof__(PQresultErrorMessage) *_Nonnull PQresultErrorMessage;
    __typeof__(PQresultStatus) *_Nonnull PQresultStatus;
    __typeof__(PQsendQueryParams) *_Nonnull PQsendQueryParams;
    __typeof__(PQserverVersion) *_Nonnull PQserverVersion;
    __typeof__(PQsetNoticeProcessor) *_Nonnull PQsetNoticeProcessor;
    __typeof__(PQsocket) *_Nonnull PQsocket;
    __typeof__(PQsslAttribute) *_Nonnull PQsslAttribute;
    __typeof__(PQsslInUse) *_Nonnull PQsslInUse;
    __typeof__(PQstatus) *_Nonnull PQstatus;
    __typeof__(PQresultErrorField) *_Nonnull PQresultErrorField;
};

/// Loads libpq once (AUTHDOCTOR_LIBPQ names another file than libpq.so.5). NULL when it is loaded;
/// otherwise one line saying why and what to install. Safe from any thread.
const char *_Nullable cpq_load_problem(void);
/// The bound functions. Aborts with cpq_load_problem() when libpq is missing: callers ask
/// cpq_load_problem() first and report it instead.
const struct cpq_functions *_Nonnull cpq_api(void);

// PG_DIAG_* are character macros, which Swift does not import.
static inline const char *_Nullable authdoctor_pq_sqlstate(const PGresult *_Nonnull result) {
    return cpq_api()->PQresultErrorField(result, PG_DIAG_SQLSTATE);
}
static inline const char *_Nullable authdoctor_pq_primary_message(const PGresult *_Nonnull result) {
    return cpq_api()->PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
}
#endif
