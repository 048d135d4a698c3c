#!/usr/bin/env bash
# Make sure PostgreSQL 15 server binaries (with pg_stat_statements) are present for the
# integration tests. Installs Debian's packages when running as root; otherwise says
# what is missing and lets the tests that need a server skip.
set -u
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && ls /usr/share/postgresql/15/extension/pg_stat_statements.control >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL 15 server packages for the integration tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql-15 postgresql-contrib-15 >/dev/null \
    || apt-get install -y -qq postgresql-15 postgresql-contrib >/dev/null \
    || { echo "could not install PostgreSQL 15; server tests will skip" >&2; exit 0; }
else
  echo "PostgreSQL 15 server binaries not found in $PGBIN; tests that need a server will skip" >&2
fi
exit 0
