"""HTTP routes: pages (Dutch HTML) and the JSON API under /api/v1."""
