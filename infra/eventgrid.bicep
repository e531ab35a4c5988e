// The Event Grid subscription the Flex Consumption blob trigger needs: blob-created events of the
// landing container go to the function's blob extension webhook. Deployed after the code (the
// webhook exists only then), as Microsoft's quickstart does; hooks/postdeploy.sh runs it.
param storageAccountName string
param functionAppName string
param location string = resourceGroup().location

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: 'evgt-${storageAccountName}'
  location: location
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'landing-to-rowgate'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        // The blobs_extension system key is read at deployment time and never leaves Azure.
        endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.ingest_landed_blob&code=${listKeys('${site.id}/host/default', '2024-04-01').systemKeys.blobs_extension}'
      }
    }
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      subjectBeginsWith: '/blobServices/default/containers/landing/'
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}
