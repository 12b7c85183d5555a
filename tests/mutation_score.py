"""Per-module mutation score from `mutmut results --all true` on stdin (`make mutation`).

Why it exists: mutmut prints one line per mutant (`pkg.module.x_func__mutmut_3: killed`) and
totals for the whole run; the project's goal (docs/testing.md) is a score per module.
Exits 1 when a module is below `GOAL`, so a run that regressed is visible.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

GOAL = 85.0
LINE = re.compile(r"^\s*(?P<module>[\w.]+)\.x\w*?__mutmut_\d+: (?P<status>[\w ]+?)\s*$")
KILLED = {"killed", "caught by type check"}
UNTESTED = {"not checked", "skipped"}


def scores(lines: list[str]) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        match = LINE.match(line)
        if match:
            by_module[match["module"]][match["status"]] += 1
    return by_module


def main() -> int:
    below = 0
    print(f"{'module':40} {'mutants':>8} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for module, counts in sorted(scores(sys.stdin.read().splitlines()).items()):
        checked = sum(n for status, n in counts.items() if status not in UNTESTED)
        if not checked:  # not part of this run (MUTANTS narrowed it)
            continue
        killed = sum(counts[status] for status in KILLED)
        score = 100.0 * killed / checked if checked else 0.0
        other = checked - killed - counts["survived"]
        below += score < GOAL
        print(f"{module:40} {checked:8} {killed:7} {counts['survived']:9} {other:6} {score:6.1f}%")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
