"""The Function App: registers the Blueprints of functions/, nothing else."""

import azure.durable_functions as df
import azure.functions as func

from functions import api, backups, ingest, openapi, orchestrations

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (ingest.bp, api.bp, backups.bp, orchestrations.bp, openapi.bp):
    app.register_functions(blueprint)
