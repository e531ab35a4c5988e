#!/usr/bin/env bash
# azd postprovision: create rowgate's schema (tables, ledger, rejections, report views; safe to run
# again) and make the Function App's identity a user of the database (Entra-only, so no password)
# with the roles rowgate needs: read, write, and DDL (its start-up check creates what is missing).
# Runs as the signed-in user, the SQL server's Entra administrator. Needs go-sqlcmd (`sqlcmd`) and
# this repository's virtualenv (bash scripts/setup.sh).
set -euo pipefail
: "${AZURE_SQL_SERVER:?}" "${AZURE_SQL_DATABASE:?}" "${AZURE_IDENTITY_NAME:?}"
schema=$(mktemp)
.venv/bin/rowgate azure-sql-schema > "$schema"
sqlcmd --server "$AZURE_SQL_SERVER" --database-name "$AZURE_SQL_DATABASE" --authentication-method ActiveDirectoryDefault --input-file "$schema"
rm -f "$schema"
sqlcmd --server "$AZURE_SQL_SERVER" --database-name "$AZURE_SQL_DATABASE" --authentication-method ActiveDirectoryDefault --query "
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'${AZURE_IDENTITY_NAME}')
    CREATE USER [${AZURE_IDENTITY_NAME}] FROM EXTERNAL PROVIDER;
ALTER ROLE db_datareader ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_datawriter ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_ddladmin ADD MEMBER [${AZURE_IDENTITY_NAME}];"
echo "schema ready; database user ${AZURE_IDENTITY_NAME} ready"
