"""One function per use case that more than one route needs (a page and its JSON API twin):
the call sequence to the services lives here once, the routes only parse and present."""
