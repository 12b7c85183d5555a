"""Adapters from the seed documents' payload formats to fleetstream events.

Why they exist: clients written against the original systems keep sending their own bodies; an
adapter turns one such body into a validated event (raising `InvalidEvent` with field errors),
so ingest endpoints stay thin and the mapping is tested on its own.
"""
