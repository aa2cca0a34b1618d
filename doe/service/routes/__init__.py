"""The routers of the service, one module per resource (the FastAPI template's layout)."""
