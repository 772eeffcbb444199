"""One function per use case that more than one route needs (a page and its JSON API twin):
the gateway's own check of the actor, then the call sequence to the services through their
declared operations (`backend.send`), here once; the routes only parse and present."""
