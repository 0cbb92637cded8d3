// Links ICU with authdoctor's trimmed data (Sources/CICUData) and checks what authdoctor asks of it:
// the date formats it parses and writes (HTTP dates, RFC 3339, GRDB's storage format, the client
// message's date), time zones, a user's own locale falling back without an error, the root collator,
// and the regular expression features its rules use. Prints one line per check and "fails=N"; exits 1 on a failure.
// Built and run by Tests/CLITests/ICUDataTests.swift, against the full data too (the control).
#include <_foundation_unicode/udat.h>
#include <_foundation_unicode/ustring.h>
#include <_foundation_unicode/uregex.h>
#include <_foundation_unicode/ucal.h>
#include <_foundation_unicode/ucol.h>
#include <math.h>
#include <stdio.h>

static int fails = 0;

static void check(int ok, const char *what, const char *detail) {
    printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what, detail);
    if (!ok) fails++;
}

// Formats 2027-01-15T08:00:00.123Z, and parses `text` (when given) expecting `seconds` since 1970.
static void date(const char *locale, const char *zone, const char *pattern, const char *text, double seconds) {
    UErrorCode status = U_ZERO_ERROR;
    UChar upattern[128], uzone[64], utext[128], out[256];
    char out8[512];
    u_strFromUTF8(upattern, 128, NULL, pattern, -1, &status);
    u_strFromUTF8(uzone, 64, NULL, zone, -1, &status);
    u_strFromUTF8(utext, 128, NULL, text, -1, &status);
    UDateFormat *format = pattern[0]
        ? udat_open(UDAT_PATTERN, UDAT_PATTERN, locale, uzone, -1, upattern, -1, &status)
        : udat_open(UDAT_MEDIUM, UDAT_MEDIUM, locale, uzone, -1, NULL, 0, &status);
    char what[256];
    snprintf(what, sizeof what, "date %s %s [%s]", locale, zone, pattern);
    if (U_FAILURE(status)) { check(0, what, u_errorName(status)); return; }
    status = U_ZERO_ERROR;
    int32_t length = udat_format(format, 1800000000123.0, out, 256, NULL, &status);
    u_strToUTF8(out8, sizeof out8, NULL, out, length, &status);
    check(U_SUCCESS(status) && length > 0, what, U_SUCCESS(status) ? out8 : u_errorName(status));
    if (text[0]) {
        status = U_ZERO_ERROR;
        UDate parsed = udat_parse(format, utext, -1, NULL, &status);
        char detail[256];
        snprintf(detail, sizeof detail, "%s -> %.3f (want %.3f) %s", text, parsed / 1000, seconds, u_errorName(status));
        check(U_SUCCESS(status) && fabs(parsed / 1000 - seconds) < 0.0005, "parse", detail);
    }
    udat_close(format);
}

static void regex(const char *pattern, const char *text, int wanted) {
    UErrorCode status = U_ZERO_ERROR;
    UChar upattern[256], utext[256];
    u_strFromUTF8(upattern, 256, NULL, pattern, -1, &status);
    u_strFromUTF8(utext, 256, NULL, text, -1, &status);
    URegularExpression *expression = uregex_open(upattern, -1, 0, NULL, &status);
    if (U_FAILURE(status)) { check(0, pattern, u_errorName(status)); return; }
    uregex_setText(expression, utext, -1, &status);
    UBool found = uregex_find(expression, 0, &status);
    check(U_SUCCESS(status) && found == wanted, pattern, U_SUCCESS(status) ? (found ? "found" : "not found") : u_errorName(status));
    uregex_close(expression);
}

int main(void) {
    // FactExtractor's HTTP dates; RFC3339's ISO8601DateFormatter; GRDB's storage; ClientMessage.
    date("en_US_POSIX", "GMT", "EEE, dd MMM yyyy HH:mm:ss zzz", "Fri, 01 Jan 2027 00:00:00 GMT", 1798761600);
    date("en_US_POSIX", "UTC", "yyyy-MM-dd'T'HH:mm:ssXXXXX", "2027-01-01T00:00:00Z", 1798761600);
    date("en_US_POSIX", "UTC", "yyyy-MM-dd'T'HH:mm:ss.SSSXXXXX", "2027-01-01T00:00:00.250+02:00", 1798754400.25);
    date("en_US_POSIX", "GMT", "yyyy-MM-dd HH:mm:ss.SSS", "2027-01-01 00:00:00.000", 1798761600);
    date("en_US_POSIX", "UTC", "d MMMM yyyy, HH:mm 'UTC'", "15 January 2027, 08:00 UTC", 1800000000);
    // A user's LANG: kept locales format; dropped display data falls back instead of failing.
    date("de_DE", "Europe/Berlin", "", "", 0);
    date("ja_JP", "Asia/Tokyo", "", "", 0);
    date("pt_BR", "America/Sao_Paulo", "", "", 0);
    date("fr_FR", "Europe/Paris", "EEEE d MMMM yyyy zzzz", "", 0);
    date("en_US", "America/Los_Angeles", "zzzz", "", 0);
    UErrorCode status = U_ZERO_ERROR;
    UChar zone[64];
    u_uastrcpy(zone, "America/New_York");
    UCalendar *calendar = ucal_open(zone, -1, "en_US_POSIX", UCAL_GREGORIAN, &status);
    check(U_SUCCESS(status), "calendar America/New_York", u_errorName(status));
    if (calendar) ucal_close(calendar);
    // The root collator stays, so a localized comparison added later still works (in root order).
    status = U_ZERO_ERROR;
    UCollator *collator = ucol_open("de_DE", &status);
    UChar a[8], b[8];
    u_uastrcpy(a, "apple");
    u_uastrcpy(b, "Banana");
    check(U_SUCCESS(status) && ucol_strcoll(collator, a, -1, b, -1) == UCOL_LESS, "collation apple < Banana", u_errorName(status));
    if (collator) ucol_close(collator);
    // What the rules' patterns use: case folding, word boundaries, properties, scripts, names.
    regex("(?i)\\binvalid[_ ]grant\\b", "Error: INVALID_GRANT here", 1);
    regex("(?i)\\binvalid[_ ]grant\\b", "invalid_grants", 0);
    regex("\\p{L}+\\s\\p{Han}", "abc 認", 1);
    regex("\\N{LATIN SMALL LETTER A}", "a", 1);
    regex("(?w)\\bword\\b", "a word here", 1);
    regex("[[:Letter:]&&[\\p{script=Cyrillic}]]+", "пр", 1);
    regex("(?i)straße", "STRASSE", 1);
    regex("(認証|トークン)(の有効期限)?が切れ", "認証が切れています", 1);
    regex("(?i)\\bне удалось\\b", "НЕ УДАЛОСЬ создать", 1);
    printf("fails=%d\n", fails);
    return fails != 0;
}
