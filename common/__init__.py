"""What every fleetstream process shares, below every package that uses it: settings, start-up.

Why it exists: `producers/`, `streams/` and the `fleetstream` CLI all need their configuration
and the same start-up habits (logging, signals). Keeping them here means no import runs back up
the layers: nothing in this package imports `schemas`, `producers`, `streams` or `fleetstream`.
"""
