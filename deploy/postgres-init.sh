#!/bin/sh
# The compose PostgreSQL's first start: the schema's owner (migrate logs in as it) and the
# service's own login (serve and worker). Neither is a superuser; the service's login may only
# switch to the two roles the first migration creates and `migrate` grants it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$OWNER_DB_PASSWORD" -v service_password="$SERVICE_DB_PASSWORD" \
     -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE buying_groups_owner LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE ROLE buying_groups_service LOGIN NOINHERIT PASSWORD :'service_password';
ALTER DATABASE :"db" OWNER TO buying_groups_owner;
SQL
