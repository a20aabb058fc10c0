"""The HTTP layer: the Starlette app, authentication, request logging, health endpoints."""
