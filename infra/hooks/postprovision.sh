#!/usr/bin/env bash
# azd postprovision: make the Function App's identity a user of the database (Entra-only, so no
# password), with the roles rowgate needs: read, write, and DDL (it creates its tables and views).
# Runs as the signed-in user, the SQL server's Entra administrator. Needs go-sqlcmd (`sqlcmd`).
set -euo pipefail
: "${AZURE_SQL_SERVER:?}" "${AZURE_SQL_DATABASE:?}" "${AZURE_IDENTITY_NAME:?}"
sqlcmd --server "$AZURE_SQL_SERVER" --database-name "$AZURE_SQL_DATABASE" --authentication-method ActiveDirectoryDefault --query "
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'${AZURE_IDENTITY_NAME}')
    CREATE USER [${AZURE_IDENTITY_NAME}] FROM EXTERNAL PROVIDER;
ALTER ROLE db_datareader ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_datawriter ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_ddladmin ADD MEMBER [${AZURE_IDENTITY_NAME}];"
echo "database user ${AZURE_IDENTITY_NAME} ready; the app creates its schema on first start"
