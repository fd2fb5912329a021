"""`tenantgraph` with one test-only schema extension, for the watchdog tests: a document with
the comment `# hold-loop <seconds>` keeps the event loop busy in Python code for that long
while it is validated, as a pathological document does; `# hold-gil` runs a backtracking
regular expression, a C call that keeps the GIL for minutes. Run as
`python -m tests.holding serve`; the product schema never has it."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from schema import build
from server import cli

HOLD = re.compile(r"#\s*hold-loop\s+([0-9.]+)")


class HoldLoop(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        found = HOLD.search(self.execution_context.query or "")
        if found:
            until = time.monotonic() + float(found.group(1))
            while time.monotonic() < until:  # bytecode after bytecode, never yielding the loop
                pass
        if "# hold-gil" in (self.execution_context.query or ""):
            re.match(r"(a+)+$", "a" * 40 + "b")  # 2**40 steps in C, never releasing the GIL
        yield


_product_extensions = build._extensions
build._extensions = lambda *args: [*_product_extensions(*args), HoldLoop]  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(cli.main())
