#!/usr/bin/env bash
# A throwaway PostgreSQL for baton's store tests.
#
#   eval "$(scripts/test-postgres.sh start)"   # start (or reuse) it, export BATON_TEST_DATABASE_URL
#   source scripts/test-postgres.sh            # the same, from a script
#   scripts/test-postgres.sh url               # print the export line of the running cluster
#   scripts/test-postgres.sh stop              # stop it and delete its files
#
# The cluster lives in $BATON_TEST_PG_DIR (default /tmp/baton-test-pg), listens on
# 127.0.0.1 only, on the first free port from 55432, with a random password. It runs
# with fsync off: it holds test data only, and the tests create and drop a database
# each (BATON_TEST_PG_DURABLE=1 keeps PostgreSQL's durable defaults, for
# benchmarks). PostgreSQL is installed with apt-get when missing (as root); version 15 is
# preferred, else the newest installed. Only the export line goes to stdout.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: start in a child shell so that its `set -e` and `exit` cannot end
    # the caller, then export the URL here.
    _baton_pg_env="$(bash "${BASH_SOURCE[0]}" start)" || return 1
    eval "$_baton_pg_env"
    unset _baton_pg_env
    return 0
fi

set -euo pipefail

DIR="${BATON_TEST_PG_DIR:-/tmp/baton-test-pg}"
DATA="$DIR/data"
URL_FILE="$DIR/url"
FIRST_PORT=55432
PORT_TRIES=20

log() { echo "test-postgres: $*" >&2; }

# Runs a PostgreSQL program as the cluster's owner: the `postgres` user when we
# are root (the server refuses to run as root), else ourselves.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Prints the bin directory of the PostgreSQL to use, or nothing.
find_bindir() {
    if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then
        echo "$newest"
    fi
}

ensure_installed() {
    if [[ -n "$(find_bindir)" ]]; then
        return
    fi
    if [[ $EUID -ne 0 ]]; then
        log "PostgreSQL is not installed and we are not root to install it"
        exit 1
    fi
    log "installing postgresql with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    if [[ -z "$(find_bindir)" ]]; then
        log "postgresql installed but no initdb found under /usr/lib/postgresql"
        exit 1
    fi
}

is_running() {
    local bindir
    bindir="$(find_bindir)"
    [[ -n "$bindir" && -f "$DATA/postmaster.pid" && -f "$URL_FILE" ]] &&
        as_owner "$bindir/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_url() {
    echo "export BATON_TEST_DATABASE_URL=$(cat "$URL_FILE")"
}

start() {
    if is_running; then
        print_url
        return
    fi
    ensure_installed
    local bindir password pwfile port
    bindir="$(find_bindir)"

    # A cluster left half-made or stopped by a crash is not worth repairing.
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$DIR"
    fi

    password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    pwfile="$DIR/pwfile"
    printf '%s\n' "$password" >"$pwfile"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$pwfile"
    fi
    log "creating a cluster in $DATA with $bindir"
    as_owner "$bindir/initdb" -D "$DATA" -U baton --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >&2
    rm -f "$pwfile"

    # Benchmarks that claim durability set BATON_TEST_PG_DURABLE=1 (and a
    # BATON_TEST_PG_DIR of their own): PostgreSQL's defaults, fsync on.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if [[ "${BATON_TEST_PG_DURABLE:-0}" == 1 ]]; then
        durability=""
    fi
    for ((port = FIRST_PORT; port < FIRST_PORT + PORT_TRIES; port++)); do
        port_is_free "$port" || continue
        if as_owner "$bindir/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 30 \
            -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 $durability -c max_connections=300" \
            start >&2; then
            echo "postgres://baton:$password@127.0.0.1:$port/postgres" >"$URL_FILE"
            chmod 600 "$URL_FILE"
            log "running on 127.0.0.1:$port"
            print_url
            return
        fi
        log "could not start on port $port; trying the next"
    done
    log "no free port in $FIRST_PORT..$((FIRST_PORT + PORT_TRIES - 1)); see $DIR/server.log"
    exit 1
}

stop() {
    local bindir
    bindir="$(find_bindir)"
    if [[ -n "$bindir" && -f "$DATA/postmaster.pid" ]]; then
        as_owner "$bindir/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    rm -rf "$DIR"
    log "stopped"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
url)
    if is_running; then
        print_url
    else
        log "not running"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 [start|stop|url]" >&2
    exit 2
    ;;
esac
