"""Projections: a domain's state and events turned into the rows and points the sinks store.

Why it exists: every SQL column list and every line-protocol field is declared here, one module
per domain, as pure functions (state -> records), so the agents hold no projection code and a
projection is tested without a database. `rows` holds what PostgreSQL projections share.
"""
