"""The gateway of the MBO Cultuurkaart portal: Dutch HTML pages and a JSON API, no domain data.

It authenticates (session cookie or bearer token, resolved by accounts), authorises (roles
from ck_contracts.roles), renders pages and turns each request into an RPC call to the service
that owns the data.
"""
