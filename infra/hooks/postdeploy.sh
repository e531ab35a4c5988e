#!/usr/bin/env bash
# azd postdeploy: the blob trigger's Event Grid subscription, which needs the deployed code's webhook.
set -euo pipefail
: "${AZURE_RESOURCE_GROUP:?}" "${AZURE_STORAGE_ACCOUNT_NAME:?}" "${AZURE_FUNCTION_APP_NAME:?}"
az deployment group create --resource-group "$AZURE_RESOURCE_GROUP" --template-file infra/eventgrid.bicep \
  --parameters storageAccountName="$AZURE_STORAGE_ACCOUNT_NAME" functionAppName="$AZURE_FUNCTION_APP_NAME" --output none
echo "landing/ now triggers ingest_landed_blob"
