"""The Function App: registers the Blueprints of functions/, nothing else."""

import azure.functions as func

from functions import api, ingest, openapi

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest.bp)
app.register_functions(api.bp)
app.register_functions(openapi.bp)
