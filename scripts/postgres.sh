#!/usr/bin/env bash
# Prints the SQLAlchemy URL of a PostgreSQL server the tests may use (they create and drop
# their own database on it), or prints nothing, says why on stderr and exits 1.
#   1. FANZHA_TEST_POSTGRES_URL, if set;
#   2. a server answering on 127.0.0.1:5432 (trust auth as user postgres);
#   3. the local Debian/Ubuntu cluster, started with pg_ctlcluster.
set -uo pipefail
if [ -n "${FANZHA_TEST_POSTGRES_URL:-}" ]; then
  echo "$FANZHA_TEST_POSTGRES_URL"
  exit 0
fi
host=127.0.0.1
port=5432
url="postgresql+psycopg://postgres@${host}:${port}/postgres"
ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port" -t 3; }
if ready; then
  echo "$url"
  exit 0
fi
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "postgres.sh: pg_isready not found (install postgresql-client) and FANZHA_TEST_POSTGRES_URL is not set" >&2
  exit 1
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if [ -n "$version" ]; then
    echo "postgres.sh: starting local cluster $version/main" >&2
    if pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1; then
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        if ready; then echo "$url"; exit 0; fi
        sleep 1
      done
    fi
    echo "postgres.sh: could not start PostgreSQL $version/main (see above)" >&2
    exit 1
  fi
fi
echo "postgres.sh: no PostgreSQL on ${host}:${port}, no local cluster to start, FANZHA_TEST_POSTGRES_URL not set" >&2
exit 1
