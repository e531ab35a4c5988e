"""The Function App: registers the Blueprints of functions/, nothing else."""

import azure.functions as func

from functions import ingest

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest.bp)
