"""One function per use case that a page and an API route share (issue 12): the call sequence
to the services lives here once, the routes only read their input and shape their answer
(HTML in routes/pages_*.py, JSON in routes/api_*.py)."""
