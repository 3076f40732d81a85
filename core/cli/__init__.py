"""The `tierscope` command line: every click command lives in this package, one module per concern,
each a thin shell over a library function (sqlite-utils style). `main` is the entry point.
"""

from __future__ import annotations

from tierscope.cli import alerts, export, import_otel, policy, reads, replay, server, store  # noqa: F401  (registers the commands)
from tierscope.cli.app import main

__all__ = ["main"]
