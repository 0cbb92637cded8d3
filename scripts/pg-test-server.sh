#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the database diagnosis tests (`make test`, CI).
# Installs nothing: needs the `postgresql` package (initdb, pg_ctl, psql) and the `postgres` OS user.
#
#   eval "$(scripts/pg-test-server.sh start)"   # prints PGTEST_PORT=..., PGTEST_DIR=..., PGTEST_*_PASSWORD=..., PGTEST_*_CA_FILE=...
#   scripts/pg-test-server.sh stop [DIR]        # DIR defaults to $PGTEST_DIR, then the last one started
#   scripts/pg-test-server.sh halt DIR          # stop the server only (data kept) ...
#   scripts/pg-test-server.sh resume DIR        # ... and start it again on the same port
#
# Fixtures: database `dw`, schema `analytics`, table `analytics.events`; roles
#   loader    password, USAGE+CREATE on analytics, INSERT on analytics.events (a healthy destination)
#   reader    password, USAGE on analytics only, SELECT on analytics.events (no CREATE, no INSERT)
#   blocked   password, but pg_hba.conf has a `reject` line for it (SQLSTATE 28000)
#   plainonly password, loader's rights; pg_hba.conf admits it only WITHOUT TLS (`hostnossl`)
#   tlsonly   password, loader's rights; pg_hba.conf admits it only OVER TLS (`hostssl`)
#   storeowner password, CREATEDB, owns database `authdoctor_store` (the PostgreSQL link store's
#             tests create and drop a database of their own per test)
# Passwords are generated per run. Host connections use scram-sha-256; the superuser is reachable
# only through a Unix socket inside the cluster's private (0700) directory.
#
# TLS: ssl=on with a self-signed certificate (CN and subjectAltName DNS:localhost only, so
# verify-full passes for `localhost` and fails for `127.0.0.1`) made at every start with openssl in
# the cluster's directory; never committed. Other roles may connect with or without TLS (`host`).
# PGTEST_CA_FILE is a readable copy of that certificate (the CA bundle for --tls-ca-file);
# PGTEST_OTHER_CA_FILE an unrelated self-signed certificate (a CA that did not sign the server's).
set -euo pipefail

LAST=/tmp/authdoctor-pgtest.last

# Runs a command as the postgres OS user (directly when we are that user or cannot switch).
as_pg() {
    if [ "$(id -un)" = postgres ]; then "$@"
    elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
    elif command -v sudo >/dev/null && sudo -n -u postgres true 2>/dev/null; then sudo -n -u postgres -- "$@"
    else "$@"
    fi
}

pg_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
    echo "pg-test-server: no initdb found (apt-get install postgresql)" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

password() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

start() {
    local bin dir pub port loader reader blocked plainonly tlsonly storeowner
    bin=$(pg_bin)
    command -v openssl >/dev/null || { echo "pg-test-server: openssl is needed for the server's TLS certificate" >&2; exit 1; }
    dir=$(as_pg mktemp -d /tmp/authdoctor-pg.XXXXXX)
    as_pg chmod 700 "$dir"
    # The certificates the tests read; the cluster's own directory stays private (it holds the
    # superuser's trust socket).
    pub="$dir-pub"
    mkdir -m 755 "$pub"
    port=$(free_port)
    loader=$(password); reader=$(password); blocked=$(password); plainonly=$(password); tlsonly=$(password); storeowner=$(password)

    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg bash -c "cat > '$dir/data/pg_hba.conf'" <<HBA
# authdoctor test cluster: superuser via the private socket only; password logins from 127.0.0.1.
# The first line that matches decides, so plainonly and tlsonly are left out of the last line:
# over the other transport they meet no line at all ("no pg_hba.conf entry ..., SSL encryption").
local     all   postgres                        trust
host      all   blocked                         127.0.0.1/32  reject
hostnossl all   plainonly                       127.0.0.1/32  scram-sha-256
hostssl   all   tlsonly                         127.0.0.1/32  scram-sha-256
host      all   loader,reader                   127.0.0.1/32  scram-sha-256
host      all   storeowner                      127.0.0.1/32  scram-sha-256
HBA
    # The server's key and certificate: made now, readable by the postgres user only.
    as_pg openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost" -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >"$dir/openssl.log" 2>&1 \
        || { cat "$dir/openssl.log" >&2; exit 1; }
    as_pg chmod 600 "$dir/data/server.key"
    as_pg cat "$dir/data/server.crt" > "$pub/ca.crt"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost" -keyout /dev/null -out "$pub/other-ca.crt" >/dev/null 2>&1 \
        || { echo "pg-test-server: openssl could not make the second certificate" >&2; exit 1; }
    chmod 644 "$pub/ca.crt" "$pub/other-ca.crt"
    local options="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c fsync=off"
    as_pg bash -c "echo '$options' > '$dir/pg_ctl.options'"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$options" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "$dir" > "$LAST"

    as_pg "$bin/psql" -q -X -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -v loader="$loader" -v reader="$reader" -v blocked="$blocked" -v plainonly="$plainonly" -v tlsonly="$tlsonly" -v storeowner="$storeowner" >/dev/null <<'SQL'
CREATE ROLE storeowner LOGIN CREATEDB PASSWORD :'storeowner';
CREATE DATABASE authdoctor_store OWNER storeowner;
CREATE ROLE loader LOGIN PASSWORD :'loader';
CREATE ROLE reader LOGIN PASSWORD :'reader';
CREATE ROLE blocked LOGIN PASSWORD :'blocked';
CREATE ROLE plainonly LOGIN PASSWORD :'plainonly' IN ROLE loader;
CREATE ROLE tlsonly LOGIN PASSWORD :'tlsonly' IN ROLE loader;
CREATE DATABASE dw;
\connect dw
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA analytics;
CREATE TABLE analytics.events (id bigint, ts timestamptz, name text);
GRANT USAGE, CREATE ON SCHEMA analytics TO loader;
GRANT SELECT, INSERT ON analytics.events TO loader;
GRANT USAGE ON SCHEMA analytics TO reader;
GRANT SELECT ON analytics.events TO reader;
SQL

    echo "PGTEST_PORT=$port"
    echo "PGTEST_DIR=$dir"
    echo "PGTEST_LOADER_PASSWORD=$loader"
    echo "PGTEST_READER_PASSWORD=$reader"
    echo "PGTEST_BLOCKED_PASSWORD=$blocked"
    echo "PGTEST_PLAINONLY_PASSWORD=$plainonly"
    echo "PGTEST_TLSONLY_PASSWORD=$tlsonly"
    echo "PGTEST_STORE_PASSWORD=$storeowner"
    echo "PGTEST_CA_FILE=$pub/ca.crt"
    echo "PGTEST_OTHER_CA_FILE=$pub/other-ca.crt"
}

stop() {
    local dir=${1:-${PGTEST_DIR:-}}
    if [ -z "$dir" ] && [ -f "$LAST" ]; then dir=$(cat "$LAST"); fi
    [ -n "$dir" ] || { echo "pg-test-server: nothing to stop" >&2; return 0; }
    case "$dir" in /tmp/authdoctor-pg.*) ;; *) echo "pg-test-server: refusing to remove $dir" >&2; exit 1 ;; esac
    if [ -d "$dir/data" ]; then
        as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    as_pg rm -rf "$dir"
    rm -rf "$dir-pub"
    if [ -f "$LAST" ] && [ "$(cat "$LAST")" = "$dir" ]; then rm -f "$LAST"; fi
}

# The server stopped (fast: sessions cut) and started again with its data and port, for the tests
# of a store whose database restarts under it.
halt() {
    local dir=$1
    case "$dir" in /tmp/authdoctor-pg.*) ;; *) echo "pg-test-server: not a test cluster: $dir" >&2; exit 64 ;; esac
    as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
}

resume() {
    local dir=$1
    case "$dir" in /tmp/authdoctor-pg.*) ;; *) echo "pg-test-server: not a test cluster: $dir" >&2; exit 64 ;; esac
    as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(as_pg cat "$dir/pg_ctl.options")" start >/dev/null
}

case "${1:-start}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    halt) halt "${2:?halt DIR}" ;;
    resume) resume "${2:?resume DIR}" ;;
    *) echo "usage: $0 [start|stop [DIR]|halt DIR|resume DIR]" >&2; exit 64 ;;
esac
