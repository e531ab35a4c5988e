// rowgate on Azure: storage, a user-assigned identity, monitoring, Azure SQL (Entra-only) and the
// Function App on the Flex Consumption plan. Deploy with `azd up`, or `az deployment group create`.
// The Event Grid subscription of the blob trigger is eventgrid.bicep, deployed after the code (hooks/).
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Name of the environment, used in resource names')
param environmentName string

@description('Azure region of every resource')
param location string = resourceGroup().location

@description('Object id of the deployer (azd: AZURE_PRINCIPAL_ID): Entra administrator of the SQL server, with blob data access')
param principalId string

@description('User, or ServicePrincipal when a pipeline deploys (azd env set AZURE_PRINCIPAL_TYPE ServicePrincipal)')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Give the deployer Storage Blob Data Contributor (shared keys are off), as allowUserIdentityPrincipal does in the azd samples')
param allowDeployerDataAccess bool = true

@description('Storage replication: Standard_LRS works in every region; Standard_ZRS only in regions with availability zones')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param storageSkuName string = 'Standard_LRS'

@description('Display name of that SQL administrator')
param sqlAdminLogin string = 'rowgate-sql-admin'

@description('Backups kept per table (ROWGATE_BACKUP_RETENTION); the storage lifecycle rule also deletes backups older than backupRetentionDays')
param backupRetention int = 7

@description('Age in days after which the lifecycle rule deletes backups')
param backupRetentionDays int = 30

@description('NCRONTAB (UTC) of the scheduled backup of all tables')
param backupSchedule string = '0 0 2 * * *'

@description('Serverless database SKU')
param sqlSkuName string = 'GP_S_Gen5_1'

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName, application: 'rowgate' }

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: 'id-rowgate-${token}', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'strowgate${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    backupRetentionDays: backupRetentionDays
    skuName: storageSkuName
    deployerPrincipalId: allowDeployerDataAccess ? principalId : ''
    deployerPrincipalType: principalType
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { name: 'rowgate-${token}', location: location, tags: tags, principalId: identity.outputs.principalId }
}

module sql 'modules/sql.bicep' = {
  name: 'sql'
  params: {
    serverName: 'sql-rowgate-${token}'
    databaseName: 'rowgate'
    location: location
    tags: tags
    adminObjectId: principalId
    adminLogin: sqlAdminLogin
    adminPrincipalType: principalType
    skuName: sqlSkuName
    workspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: 'func-rowgate-${token}'
    location: location
    tags: union(tags, { 'azd-service-name': 'rowgate' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${storage.outputs.deploymentContainer}'
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    sqlServerFqdn: sql.outputs.serverFqdn
    sqlDatabaseName: sql.outputs.databaseName
    backupRetention: backupRetention
    backupSchedule: backupSchedule
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_SQL_SERVER string = sql.outputs.serverFqdn
output AZURE_SQL_DATABASE string = sql.outputs.databaseName
output AZURE_IDENTITY_NAME string = identity.outputs.name
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
