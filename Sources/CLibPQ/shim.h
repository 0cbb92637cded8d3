#ifndef AUTHDOCTOR_CLIBPQ_SHIM_H
#define AUTHDOCTOR_CLIBPQ_SHIM_H
// libpq (PostgreSQL's client library) for the database diagnosis; pkg-config `libpq`, apt `libpq-dev`.
#include <libpq-fe.h>

// PG_DIAG_* are character macros, which Swift does not import.
static inline const char *authdoctor_pq_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}
static inline const char *authdoctor_pq_primary_message(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
}
#endif
