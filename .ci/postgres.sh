#!/usr/bin/env bash
# .ci/postgres.sh — start a throw-away PostgreSQL for the tests.
#
# Installs PostgreSQL from apt when missing, creates a cluster in a new
# temporary directory (initdb, as the postgres user when run as root),
# starts it with pg_ctl on 127.0.0.1 on a free port (no systemd; the unix
# socket stays in the temporary directory), creates the role lapps (with a
# random password) and its database lapps_test, waits until it answers, and
# prints on stdout:
#
#   LAPPS_TEST_POSTGRES_DSN=postgres://lapps:…@127.0.0.1:PORT/lapps_test?sslmode=disable
#
# so that a caller can `eval "$(.ci/postgres.sh)"`. Everything else goes to
# stderr, except a second line
#
#   LAPPS_TEST_POSTGRES_DIR=DIR
#
# naming the cluster's directory. The server keeps running after the
# script exits; stop it (and remove DIR) with
#
#   .ci/postgres.sh stop DIR The cluster is for tests only:
# its data lives under /tmp and nothing else listens than 127.0.0.1.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# bindir prints the bin directory of the newest installed PostgreSQL.
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# as_pg runs a command as the postgres user when we are root, as ourselves
# otherwise (initdb and the server refuse to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = stop ]; then
  dir=${2:?usage: postgres.sh stop DIR}
  [ -f "$dir/data/PG_VERSION" ] || die "$dir is not a cluster made by this script"
  bin=$(bindir) || die "no PostgreSQL installed"
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
  rm -rf "$dir"
  exit 0
fi

if ! bin=$(bindir); then
  log "installing PostgreSQL from apt"
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and installing it needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  # Debian's package creates and starts a cluster of its own through
  # systemd or init scripts; a policy-rc.d keeps it from starting here.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -q postgresql >&2
  if [ $made_policy -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  bin=$(bindir) || die "apt installed postgresql, but no initdb under /usr/lib/postgresql/*/bin"
fi
log "using $bin"

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package creates it)"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/lapps-pg.XXXXXX")
chmod 0755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
log "cluster in $dir (stop with: $0 stop $dir)"

password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
pwfile="$dir/superuser.pw"
as_pg sh -c "umask 077; printf '%s\n' '$password' >'$pwfile'"
as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync >&2
rm -f "$pwfile"

# port_busy reports whether something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=0
for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  port_busy "$port" && continue
  if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2; then
    started=1
    break
  fi
  log "start on port $port failed; trying another"
  tail -n 5 "$dir/server.log" >&2 || true
done
[ $started -eq 1 ] || die "could not start PostgreSQL (log: $dir/server.log)"

for _ in $(seq 1 60); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
"$bin/pg_isready" -h 127.0.0.1 -p "$port" >&2 || die "PostgreSQL does not answer on 127.0.0.1:$port"

# The role the tests use: owner of its database, allowed to create others
# (a test may want a database of its own), not a superuser.
as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE ROLE lapps LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE lapps_test OWNER lapps;
SQL

dsn="postgres://lapps:$password@127.0.0.1:$port/lapps_test?sslmode=disable"
PGPASSWORD=$password "$bin/psql" -X -q -At -d "$dsn" -c 'SELECT 1' >/dev/null \
  || die "cannot connect as lapps to lapps_test"
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port"
echo "LAPPS_TEST_POSTGRES_DSN=$dsn"
echo "LAPPS_TEST_POSTGRES_DIR=$dir"
