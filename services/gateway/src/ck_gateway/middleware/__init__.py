"""Pure ASGI middleware (no BaseHTTPMiddleware: it would copy contexts and buffer bodies)."""
