#!/usr/bin/env bash
# azd postprovision: create rowgate's schema (tables, ledger, rejections, report views; safe to run
# again) and make the Function App's identity a user of the database (Entra-only, so no password)
# with the roles rowgate needs: read, write, and DDL (its start-up check creates what is missing).
#
# Runs as the signed-in deployer, the SQL server's Entra administrator, and is self-sufficient: it
# creates the virtualenv it runs rowgate from (scripts/setup.sh) and, as Microsoft's Functions + Azure
# SQL sample does, opens the SQL firewall to this machine's public IP address while it works; the rule
# is removed when the hook ends, whether it succeeded, failed or was interrupted (a hook killed outright
# leaves a rule named azd-postprovision-*: delete it by hand). Needs az (signed in), go-sqlcmd and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${AZURE_RESOURCE_GROUP:?}" "${AZURE_SQL_SERVER:?}" "${AZURE_SQL_DATABASE:?}" "${AZURE_IDENTITY_NAME:?}"

if ! [[ $AZURE_IDENTITY_NAME =~ ^[A-Za-z0-9_-]{1,128}$ ]]; then
  echo "postprovision: AZURE_IDENTITY_NAME must be letters, digits, '-' or '_' (got '${AZURE_IDENTITY_NAME:0:40}')" >&2
  exit 1
fi
for tool in az sqlcmd curl; do
  command -v "$tool" >/dev/null || { echo "postprovision: '$tool' is not installed (docs/deploy.md lists the prerequisites)" >&2; exit 1; }
done
[ -x .venv/bin/rowgate ] || bash scripts/setup.sh

schema=$(mktemp)
rule=""
cleanup() {
  rm -f "$schema"
  if [ -n "$rule" ]; then
    az sql server firewall-rule delete --resource-group "$AZURE_RESOURCE_GROUP" --server "$server" --name "$rule" --output none \
      || echo "postprovision: remove the firewall rule $rule of $server by hand" >&2
  fi
}
trap cleanup EXIT
.venv/bin/rowgate azure-sql-schema > "$schema"

server=${AZURE_SQL_SERVER%%.*}
ip=$(curl -fsS --max-time 20 https://api.ipify.org)
if ! [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  echo "postprovision: could not learn this machine's public IPv4 address (got '${ip:0:40}')" >&2
  exit 1
fi
name="azd-postprovision-$(date +%s)-$$"
az sql server firewall-rule create --resource-group "$AZURE_RESOURCE_GROUP" --server "$server" --name "$name" \
  --start-ip-address "$ip" --end-ip-address "$ip" --output none
rule=$name
echo "postprovision: firewall rule $rule lets $ip reach $server until this hook ends"

sql() {
  sqlcmd --server "$AZURE_SQL_SERVER" --database-name "$AZURE_SQL_DATABASE" --authentication-method ActiveDirectoryDefault "$@"
}
# A new firewall rule can take a few minutes to apply: the first connection is retried meanwhile.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if sql --query "SELECT 1" >/dev/null; then
    break
  fi
  [ "$attempt" -lt 10 ] || { echo "postprovision: cannot reach $AZURE_SQL_SERVER" >&2; exit 1; }
  sleep 15
done
sql --input-file "$schema"
sql --query "
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'${AZURE_IDENTITY_NAME}')
    CREATE USER [${AZURE_IDENTITY_NAME}] FROM EXTERNAL PROVIDER;
ALTER ROLE db_datareader ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_datawriter ADD MEMBER [${AZURE_IDENTITY_NAME}];
ALTER ROLE db_ddladmin ADD MEMBER [${AZURE_IDENTITY_NAME}];"
echo "schema ready; database user ${AZURE_IDENTITY_NAME} ready"
