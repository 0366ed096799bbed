"""Kept for code written against the private name; use :func:`ops.require`."""

from __future__ import annotations

from ops.optional import require

__all__ = ["require"]
