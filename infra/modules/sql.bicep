// Azure SQL: a logical server with Microsoft Entra-only authentication (no SQL password exists) and a
// serverless database. The Function App's identity becomes a database user in hooks/postprovision.sh.
// Server auditing goes to Log Analytics, which takes a diagnostic setting on the master database.
param serverName string
param databaseName string
param location string
param tags object
param adminObjectId string
param adminLogin string
param skuName string
param workspaceId string

@description('User, or ServicePrincipal when a service principal deploys (the SQL administrator is then an Application)')
@allowed(['User', 'ServicePrincipal'])
param adminPrincipalType string = 'User'

resource server 'Microsoft.Sql/servers@2023-08-01' = {
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
      principalType: (adminPrincipalType == 'User') ? 'User' : 'Application'
    }
  }
}

resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01' = {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

resource master 'Microsoft.Sql/servers/databases@2023-08-01' existing = {
  parent: server
  name: 'master'
}

// Audit records reach Log Analytics only through this setting; the server's auditing covers every database.
resource auditToLogAnalytics 'Microsoft.Insights/diagnosticSettings@2016-09-01' = {
  scope: master
  name: 'audit-to-log-analytics'
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'SQLSecurityAuditEvents', enabled: true }]
  }
}

resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = {
  parent: server
  name: 'default'
  dependsOn: [auditToLogAnalytics]
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    retentionDays: 90
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
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

output serverFqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
