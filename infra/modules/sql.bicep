// Azure SQL: a logical server with Microsoft Entra-only authentication (no SQL password exists) and a
// serverless database. The Function App's identity becomes a database user in hooks/postprovision.sh.
param serverName string
param databaseName string
param location string
param tags object
param adminObjectId string
param adminLogin string
param skuName string

resource server 'Microsoft.Sql/servers@2023-08-01-preview' = {
  name: serverName
  location: location
  tags: tags
  properties: {
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled' // checkov:skip=CKV_AZURE_113: Flex Consumption without a virtual network connects over the public endpoint; Entra-only sign-in
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminLogin
      sid: adminObjectId
      tenantId: subscription().tenantId
      principalType: 'User'
    }
  }
}

resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01-preview' = {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01-preview' = {
  parent: server
  name: 'default'
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    retentionDays: 90
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01-preview' = {
  // checkov:skip=CKV_AZURE_26: alerts belong to Defender for SQL, see above
  // checkov:skip=CKV_AZURE_27: alerts belong to Defender for SQL, see above
  // checkov:skip=CKV_AZURE_229: serverless General Purpose without zone redundancy keeps the cost at rest near zero
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: { name: skuName, tier: 'GeneralPurpose' }
  properties: {
    autoPauseDelay: 60
    minCapacity: json('0.5')
    zoneRedundant: false
    requestedBackupStorageRedundancy: 'Local'
  }
}

resource databaseAuditing 'Microsoft.Sql/servers/databases/auditingSettings@2023-08-01-preview' = {
  parent: database
  name: 'default'
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    retentionDays: 90
  }
}

output serverFqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
