// The Function App on the Flex Consumption plan (Python 3.13): identity-based storage, Application
// Insights through Entra ID, and exactly the app settings rowgate reads (tests/test_infra.py checks).
param name string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param deploymentContainerUrl string
param appInsightsConnectionString string
param sqlServerFqdn string
param sqlDatabaseName string
param backupRetention int
param backupSchedule string
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is an opt-in of Flex Consumption in some regions, left off to keep the cost at rest at zero
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the HTTP API is the product; every route but health and openapi.json needs a function key
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero by design; always-ready instances are an opt-in with a cost at rest
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support siteConfig.healthCheckPath; /api/health answers monitors instead
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional' // checkov:skip=CKV_AZURE_17: callers authenticate with function keys, not client certificates
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
      runtime: { name: 'python', version: '3.13' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // The Functions host: storage through the identity, telemetry through Entra ID.
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // rowgate's own settings (shared/settings.py).
        { name: 'ROWGATE_STORAGE', value: blobEndpoint }
        { name: 'ROWGATE_SQL_SERVER', value: sqlServerFqdn }
        { name: 'ROWGATE_SQL_DATABASE', value: sqlDatabaseName }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'ROWGATE_CHUNK_ROWS', value: '50000' }
        { name: 'ROWGATE_BACKUP_RETENTION', value: string(backupRetention) }
        { name: 'BACKUP_SCHEDULE', value: backupSchedule }
      ]
    }
  }
}

output name string = site.name
output hostName string = site.properties.defaultHostName
