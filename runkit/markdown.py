"""Generated blocks in Markdown files: the text between a begin and an end marker line, rewritten
by a generator (the README's headlines, the before -> after table), never by hand."""
from __future__ import annotations

import os
from pathlib import Path

from sap_mx.io import write_text

from .cli import UsageError

__all__ = ["block_span", "replace_block"]


def block_span(text: str, begin: str, end: str, *, what: str = "the block") -> tuple[int, int]:
    """Start and end offsets of the content between ``begin`` and ``end`` in ``text``; a file
    without both markers is the user's one-line error."""
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise UsageError(f"the file has no '{begin}' ... '{end}' block; add the two marker "
                         f"lines where {what} goes")
    return i + len(begin), j


def replace_block(path: str | os.PathLike, begin: str, end: str, lines: list[str], *,
                  check: bool = False, append: bool = False, what: str = "the block") -> bool:
    """Put ``lines`` between the markers of ``path`` (atomically; with ``check`` only compare;
    with ``append``, a file without the markers gets them at its end). True when the block was
    already current."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if append and (begin not in text or end not in text):
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    i, j = block_span(text, begin, end, what=what)
    body = "\n" + "\n".join(lines) + "\n"
    current = text[i:j] == body
    if not current and not check:
        write_text(path, text[:i] + body + text[j:])
    return current
