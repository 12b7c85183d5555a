"""Hypothesis profiles for the whole suite: the default, and `mutation` for `make mutation`.

Why it exists: `make mutation` runs the unit tests of the pure core once per mutant (thousands of
runs), so a property test's examples cost that many times over. The Makefile selects the
`mutation` profile with FLEETSTREAM_HYPOTHESIS_PROFILE=mutation: fewer examples per property, the
same properties. Every other run keeps Hypothesis' defaults but one: no per-example deadline. A
deadline is a timing assertion, and on a machine shared with benchmarks and workers the same
example took 280-400 ms against the default 200 ms; what a test checks is its property.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("fleetstream", deadline=None)
settings.register_profile("mutation", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("FLEETSTREAM_HYPOTHESIS_PROFILE", "fleetstream"))
