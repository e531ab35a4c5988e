"""The Function App: registers the Blueprints of functions/, nothing else (functions/registry.py lists them)."""

from functions.registry import build_app

app = build_app()
