"""What flows through fleetstream: event types, their validation, the wire codec and seed adapters.

This package imports nothing from `producers` or `streams`; both depend on it.
"""
