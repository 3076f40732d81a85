"""The `tierscope` command line: every click command lives in this package, one module per concern,
each a thin shell over a library function (sqlite-utils style). `main` is the entry point.
"""

from __future__ import annotations

from tierscope.cli import (  # noqa: F401  (importing a module registers its commands)
    alerts,
    budget,
    export,
    import_otel,
    policy,
    reads,
    reconcile,
    replay,
    server,
    status,
    store,
)
from tierscope.cli.app import main

__all__ = ["main"]
