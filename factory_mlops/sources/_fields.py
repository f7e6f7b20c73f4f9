"""Vectorised field counts of the records of a delimited text buffer.

pandas' C parser pads a record that has fewer fields than the header with empty strings, so a
truncated record looks exactly like one whose trailing cells are empty. This module counts the
fields of every record straight from the bytes with numpy, so the reader can reject short records
without a per-row Python loop. The count is quote-aware (a separator or line break between double
quotes does not count) and skips blank lines the way pandas does. It is a screen: the reader checks
that it agrees with pandas on the number of records and falls back to the `csv` module when not.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 24  # bytes per numpy pass; bounds the temporary arrays to a few times this
_QUOTE = ord('"')
_LF = ord("\n")
_BLANK = (ord(" "), ord("\t"), ord("\r"), _LF)


def record_field_counts(data: bytes, sep: str | None) -> np.ndarray | None:
    """Count the fields of every non-blank record of a delimited text buffer.

    Args:
        data: The decompressed file content in an ASCII-compatible encoding (UTF-8, Latin-1...).
        sep: The one-character field separator, or None for "any run of spaces/tabs" (leading and
            trailing whitespace of a line does not make a field).

    Returns:
        int64 array with the number of fields of each non-blank record in file order (the header
        included), or None when the buffer ends lines with a bare carriage return, which this
        screen does not model.
    """
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    quoted = b'"' in data
    sep_byte = None if sep is None else ord(sep)

    parity = np.uint8(0)  # 1 while inside a quoted field, carried over chunk boundaries
    prev_field_char = False  # whitespace mode: the byte before the chunk belongs to a field
    open_events = 0  # separators (or field starts) of the record still open at a chunk end
    ends_out: list[np.ndarray] = []
    events_out: list[np.ndarray] = []

    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        buf = np.frombuffer(view[start : start + _CHUNK], dtype=np.uint8)
        inside: np.ndarray | None = None
        if quoted:
            par = np.bitwise_xor.accumulate((buf == _QUOTE).view(np.uint8)) ^ parity
            inside = par.view(bool)
            parity = par[-1]
        eol = buf == _LF
        if sep_byte is not None:
            event = buf == sep_byte
            if inside is not None:
                event &= ~inside
        else:
            field_char = buf != _BLANK[0]
            for b in _BLANK[1:]:
                field_char &= buf != b
            if inside is not None:
                field_char |= inside
            event = field_char.copy()
            event[0] &= not prev_field_char
            event[1:] &= ~field_char[:-1]
            prev_field_char = bool(field_char[-1])
        if inside is not None:
            eol &= ~inside
        ends = np.flatnonzero(eol)
        upto = np.searchsorted(np.flatnonzero(event), ends, side="right")
        per_record = np.diff(upto, prepend=0)
        if len(ends):
            per_record[0] += open_events
            open_events = int(np.count_nonzero(event)) - int(upto[-1])
            ends_out.append(ends + start)
            events_out.append(per_record)
        else:
            open_events += int(np.count_nonzero(event))

    ends = np.concatenate(ends_out) if ends_out else np.array([], dtype=np.int64)
    events = np.concatenate(events_out) if events_out else np.array([], dtype=np.int64)
    last = int(ends[-1]) + 1 if len(ends) else 0
    if last < len(data):  # a last record without a line break
        ends = np.append(ends, len(data))
        events = np.append(events, open_events)
    if sep_byte is None:
        return events[events > 0].astype(np.int64)
    # A record without a separator is blank when it holds only whitespace (few such lines).
    keep = np.ones(len(ends), dtype=bool)
    starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
    for i in np.flatnonzero(events == 0):
        keep[i] = bool(data[starts[i] : ends[i]].strip())
    return events[keep].astype(np.int64) + 1
