#!/usr/bin/env bash
# A local PostgreSQL for the PostgreSQL suites (issue 16), made from nothing and idempotent:
# installs Debian's `postgresql` if missing, starts the first cluster (creating one if there is
# none), creates the role `parley` (LOGIN CREATEDB: tests create and drop their own databases
# and schemas) and the databases `parley` and `parley_vault` (the key vault lives on its own
# database), then prints the URL to export as PARLEY_PG_URL — and nothing else on stdout:
#
#   export PARLEY_PG_URL="$(bash .ci/postgres-setup.sh)"
#
# The password comes from PARLEY_PG_PASSWORD, else from a file kept beside the cluster
# (created once, mode 600), so running the script again keeps an exported URL valid.
set -euo pipefail

log() { printf 'postgres-setup: %s\n' "$*" >&2; }

ROLE=parley
DATABASES=(parley parley_vault)

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

# The first cluster of the newest installed version; create `main` if the package made none.
VERSION=''
read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters -h 2>/dev/null | sort -rV | head -n 1) || true
if [ -z "${VERSION:-}" ]; then
  VERSION=$(ls /usr/lib/postgresql | sort -rV | head -n 1)
  log "creating cluster $VERSION/main"
  pg_createcluster "$VERSION" main >&2
  read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters -h | sort -rV | head -n 1)
fi
if [ "$STATUS" != "online" ]; then
  log "starting cluster $VERSION/$CLUSTER"
  pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || {
  log "cluster $VERSION/$CLUSTER does not accept connections on 127.0.0.1:$PORT"
  exit 1
}

PASSWORD_FILE=/var/lib/postgresql/.parley-test-password
if [ -n "${PARLEY_PG_PASSWORD:-}" ]; then
  PASSWORD=$PARLEY_PG_PASSWORD
elif [ -s "$PASSWORD_FILE" ]; then
  PASSWORD=$(cat "$PASSWORD_FILE")
else
  PASSWORD="parley-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf '%s' "$PASSWORD" >"$PASSWORD_FILE")
fi
case "$PASSWORD" in
  *[!A-Za-z0-9_-]*) log "PARLEY_PG_PASSWORD may only hold letters, digits, '-' and '_'"; exit 1 ;;
esac

psql_admin() { su postgres -c "psql -X -q -v ON_ERROR_STOP=1 -p $PORT $*" >&2; }

psql_admin "-d postgres" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
SQL
for db in "${DATABASES[@]}"; do
  exists=$(su postgres -c "psql -X -At -p $PORT -d postgres -c \"SELECT 1 FROM pg_database WHERE datname = '$db'\"")
  if [ "$exists" != "1" ]; then
    log "creating database $db"
    su postgres -c "createdb -p $PORT -O $ROLE $db" >&2
  fi
done

log "ready: PostgreSQL $VERSION on 127.0.0.1:$PORT, role $ROLE, databases ${DATABASES[*]}"
printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$PASSWORD" "$PORT" "${DATABASES[0]}"
