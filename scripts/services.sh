#!/usr/bin/env bash
# Make sure the database servers the tests talk to are up:
#   PostgreSQL  127.0.0.1:5432, user postgres, trust authentication
#   MariaDB     127.0.0.1:3306, user root, empty password
# and that the MariaDB programs the binlog tests start a server of their own with are installed.
# They normally are on our machines; this starts a stopped server and installs missing packages.
# Idempotent: when everything is up it only checks, in well under a second.
set -euo pipefail

TIMEOUT=${SHIFU_SERVICES_TIMEOUT:-60}
PATH="$PATH:/usr/sbin:/sbin"

log() { echo "services: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@" || die "needs root: $*"; fi
}

# wait_for NAME COMMAND...: retry COMMAND until it succeeds or TIMEOUT seconds pass.
wait_for() {
    local name=$1 deadline=$((SECONDS + TIMEOUT))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$name did not come up within ${TIMEOUT}s"
        sleep 0.5
    done
}

installed_mariadb=no
ensure_mariadb_programs() {
    local missing=()
    for program in mariadbd mariadb-install-db; do
        command -v "$program" >/dev/null || missing+=(mariadb-server)
    done
    for program in mariadb mariadb-admin mariadb-binlog; do
        command -v "$program" >/dev/null || missing+=(mariadb-client)
    done
    [ ${#missing[@]} -eq 0 ] && return
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    installed_mariadb=yes
}

ensure_postgres() {
    if ! command -v pg_isready >/dev/null || [ ! -d /etc/postgresql ]; then
        die "PostgreSQL is not installed (expected a cluster under /etc/postgresql)"
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        local version
        version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
        log "starting PostgreSQL $version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
    fi
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null ||
        die "PostgreSQL is up but user postgres cannot log in over 127.0.0.1 without a password"
}

mariadb_alive() { mariadb-admin --connect-timeout=2 -h 127.0.0.1 -P 3306 -u root ping; }
mariadb_root_login() { mariadb -h 127.0.0.1 -P 3306 -u root -e 'select 1'; }

ensure_mariadb() {
    if ! mariadb_alive >/dev/null 2>&1; then
        log "starting MariaDB"
        # /run is a tmpfs: after a reboot the socket directory is gone and mariadbd would not start.
        as_root install -d -o mysql -g mysql /run/mysqld
        as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
        wait_for MariaDB mariadb_alive
    fi
    if ! mariadb_root_login >/dev/null 2>&1; then
        # Debian's fresh install lets root in over the socket only; the tests connect over TCP.
        [ "$installed_mariadb" = yes ] ||
            die "MariaDB is up but root cannot log in over 127.0.0.1 with an empty password"
        log "allowing root over 127.0.0.1 without a password (test machine)"
        as_root mariadb -u root -e "create user if not exists 'root'@'127.0.0.1';
            grant all privileges on *.* to 'root'@'127.0.0.1' with grant option;"
        mariadb_root_login >/dev/null
    fi
}

ensure_mariadb_programs
ensure_postgres
ensure_mariadb
log "PostgreSQL 127.0.0.1:5432 and MariaDB 127.0.0.1:3306 are up"
