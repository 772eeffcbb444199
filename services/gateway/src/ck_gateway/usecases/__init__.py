"""Use cases of the portal: one function per sequence of service calls that a page (HTML,
routes/pages_*.py) and an API route (JSON, routes/api_*.py) both perform, so the two cannot
drift apart. One module per topic; the functions take the request and the actor and return the
services' typed answers (failures arrive as RpcFailed / ServiceUnavailable)."""
