"""Splitting a CSV byte stream into records, for rows pyarrow's block reader cannot take.

pyarrow's streaming reader fails on a record longer than its block ("straddling object").
The reader then reads the member again through ``split_records``, which finds record
boundaries the way pyarrow's parser does (a quote opens a quoted value only at the start
of a field; ``""`` inside it is a quote in EXCEL, a backslash escapes the next byte in
NO_NEWLINE; CR, LF and CRLF end a record outside quotes; empty lines are skipped) and
sets apart records longer than a limit without holding them in memory. It costs a Python
step per quote and line break, so it only runs when a long record was met.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

_EXCEL_SPECIAL = re.compile(rb'[\r\n"]')
_ESCAPED_SPECIAL = re.compile(rb'[\r\n"\\]')
_ESCAPED_QUOTED = re.compile(rb'["\\]')
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_COMMA = ord(",")
_CR = ord("\r")
_READ_BYTES = 1 << 20


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class LongRecord:
    """A record over the limit: its first bytes, its length and its line breaks."""

    prefix: bytes
    size: int
    newlines: int


class _Splitter:
    """Incremental scanner: ``buffer[start:]`` is the record being read."""

    def __init__(self, source: ByteSource, escaped: bool, max_bytes: int, keep: int):
        self._source, self._max, self._keep = source, max_bytes, keep
        self._escaped = escaped
        self._special = _ESCAPED_SPECIAL if escaped else _EXCEL_SPECIAL
        self._buffer, self._eof = b"", False
        self._start = self._scan = 0
        self._quoted = False
        self._long: tuple[bytes, int, int] | None = None  # prefix, bytes and breaks dropped

    def records(self) -> Iterator[bytes | LongRecord]:
        while True:
            end = self._find_end()
            if end is None:
                if self._start < len(self._buffer) or self._long is not None:
                    yield self._take(len(self._buffer), len(self._buffer))
                return
            if end[0] > self._start or self._long is not None:
                yield self._take(*end)
            else:  # an empty line
                self._start = self._scan = end[1]

    def _take(self, stop: int, resume: int) -> bytes | LongRecord:
        """The record ending at ``stop``, with its line end up to ``resume``."""
        record = self._buffer[self._start : stop]
        whole = self._buffer[self._start : resume]
        self._start = self._scan = resume
        if self._long is None:
            if len(record) <= self._max:
                return whole
            return LongRecord(record[: self._keep], len(record), record.count(b"\n"))
        prefix, size, newlines = self._long
        self._long = None
        return LongRecord(prefix, size + len(record), newlines + record.count(b"\n"))

    def _find_end(self) -> tuple[int, int] | None:
        """The next record's end and where the one after starts; None at the end."""
        while True:
            match = self._next_special()
            if match is None:
                if self._eof:
                    return None
                self._more()
                continue
            position, char = match
            if char == _BACKSLASH:
                self._escape(position)
                continue
            if char == _QUOTE:
                self._quote(position)
                continue
            if char == _CR and position + 1 == len(self._buffer) and not self._eof:
                self._more()  # is it CRLF? look at the next byte first
                continue
            crlf = char == _CR and self._buffer[position + 1 : position + 2] == b"\n"
            return position, position + (2 if crlf else 1)

    def _next_special(self) -> tuple[int, int] | None:
        if self._quoted and not self._escaped:
            position = self._buffer.find(b'"', self._scan)
        else:
            pattern = _ESCAPED_QUOTED if self._quoted else self._special
            found = pattern.search(self._buffer, self._scan)
            position = found.start() if found else -1
        if position < 0:
            self._scan = len(self._buffer)
            return None
        return position, self._buffer[position]

    def _escape(self, position: int) -> None:
        """NO_NEWLINE: a backslash takes the next byte (a line break too) as a value's."""
        if position + 1 == len(self._buffer) and not self._eof:
            self._more()
            return
        self._scan = position + 2

    def _quote(self, position: int) -> None:
        if self._quoted and self._escaped:
            self._quoted = False
            self._scan = position + 1
            return
        if self._quoted:
            if position + 1 == len(self._buffer) and not self._eof:
                self._more()  # a doubled quote may continue in the next read
                return
            doubled = self._buffer[position + 1 : position + 2] == b'"'
            self._quoted = doubled
            self._scan = position + (2 if doubled else 1)
            return
        at_field_start = position == self._start or self._buffer[position - 1] == _COMMA
        if at_field_start and (position > self._start or self._long is None):
            self._quoted = True
        self._scan = position + 1

    def _more(self) -> None:
        """Read on; a record grown past the limit is dropped but for its first bytes."""
        if len(self._buffer) - self._start > self._max:
            self._drop_long()
        elif self._start:  # forget the records already taken
            self._buffer = self._buffer[self._start :]
            self._scan -= self._start
            self._start = 0
        chunk = self._source.read(_READ_BYTES)
        self._eof = not chunk
        self._buffer += chunk

    def _drop_long(self) -> None:
        keep_from = len(self._buffer) - 1  # the last byte tells a field start from the rest
        dropped = self._buffer[self._start : keep_from]
        prefix, size, newlines = self._long or (dropped[: self._keep], 0, 0)
        self._long = (prefix, size + len(dropped), newlines + dropped.count(b"\n"))
        self._buffer = self._buffer[keep_from:]
        self._scan -= keep_from
        self._start = 0


def split_records(
    source: ByteSource, *, escaped: bool, max_bytes: int, keep_bytes: int
) -> Iterator[bytes | LongRecord]:
    """The non-empty records of ``source`` with their line end (none for a last record
    without one), or LongRecord past ``max_bytes``; the bytes joined are the source's.

    ``escaped``: NO_NEWLINE, where a backslash escapes the next byte and ``""`` is not a
    quote. As in pyarrow's parser, a quoted value spans line breaks in both formats.
    """
    return _Splitter(source, escaped, max_bytes, keep_bytes).records()
