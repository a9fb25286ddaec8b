"""The one base class of user mistakes.

Every error that a user can cause and fix (a missing dataset, a bad flag, an unusable device,
an altered checkpoint, weights that cannot be fetched, an unknown game) derives from
``UserError``. The command-line drivers catch this class, and only this class, and print its
message as one ``error:`` line with exit status 2; anything else is a bug and keeps its
traceback. It derives from ``ValueError`` so code written against the older specific types
(``except ValueError``) keeps working.
"""
from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """A mistake the user can fix; the message is one line that names the fix."""
