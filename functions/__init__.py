"""Thin Azure Functions trigger modules: parse the trigger, call the core in shared/, shape the response."""
