"""A stack of the tests' own (all services, SASL_SSL on) on free ports, for the stack tests.

Why it exists: the shared stack on the default ports runs without the secure listener and must
never be restarted by a test; the services these tests exercise (Prometheus, Alertmanager,
InfluxDB 1.x, SASL_SSL) run in a private stack, started once for the session and stopped after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

import pytest

from fleetstream.stack import Stack
from fleetstream.stack.services import Ports
from tests.integration.helpers import free_port

ALWAYS_FIRING = """groups:
  - name: stack-test
    rules:
      - alert: StackTestAlwaysFiring
        expr: vector(1)
        labels:
          severity: none
"""


@pytest.fixture(scope="session")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("own-stack")
    rules = root / "rules"
    rules.mkdir()
    (rules / "stack-test.rules.yml").write_text(ALWAYS_FIRING)
    ports = Ports(**{f.name: free_port() for f in fields(Ports)})
    stack = Stack(root / "state", ports, secure=True, rules_dir=rules)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
