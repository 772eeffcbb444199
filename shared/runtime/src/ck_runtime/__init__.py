"""Runtime every service shares: settings, logging, database, outbox, inbox, topology, RPC.

No domain rules live here.
"""
