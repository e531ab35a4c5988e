// Storage: shared keys off (identity only), the rowgate containers, the deployment package container,
// a lifecycle rule for old backups, the identity's data roles, and the deployer's blob data role (shared
// keys are off, so uploading the first files or reading rejected ones needs it: the samples'
// allowUserIdentityPrincipal).
param name string
param location string
param tags object
param principalId string
param backupRetentionDays int

@description('Replication: Standard_LRS works in every region; Standard_ZRS only where the region has availability zones')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param skuName string = 'Standard_LRS'

@description('Object id of the deploying user or service principal, given Storage Blob Data Contributor; empty for none')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

var containers = ['landing', 'rejected', 'archive', 'backups', 'deploymentpackage']
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_206: replication is the skuName parameter (LRS by default: ZRS fails in regions without zones); backups can be copied out
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: skuName }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled' // checkov:skip=CKV_AZURE_59: Flex Consumption without a virtual network reaches storage publicly; access needs Entra ID
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' } // checkov:skip=CKV_AZURE_35: see above; shared keys are off
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: { blob: { enabled: true }, queue: { enabled: true, keyType: 'Account' }, table: { enabled: true, keyType: 'Account' } }
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobs
  name: container
  properties: { publicAccess: 'None' }
}]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-old-backups'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: ['blockBlob'], prefixMatch: ['backups/'] }
            actions: { baseBlob: { delete: { daysAfterCreationGreaterThan: backupRetentionDays } } }
          }
        }
      ]
    }
  }
}

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  scope: account
  name: guid(account.id, principalId, role.value)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
  }
}]

resource deployerBlobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  scope: account
  name: guid(account.id, deployerPrincipalId, blobDataContributor)
  properties: {
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deploymentContainer string = 'deploymentpackage'
