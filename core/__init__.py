"""tierscope: which agent role spends the money, on which model tier, and whether it needed to."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
