"""Read one readings export (CSV or Parquet) into a raw table: source columns, every value a str.

Nothing is renamed or converted here; that is `_canonical`'s job. This module decides whether the
file can be read at all (otherwise it raises `FileProblem` with a reason code and a detail that
names the file and the plant.yaml key to fix) and rejects the records that are broken as text:
`row_truncated` (fewer fields than the header) and `row_malformed` (more fields).

The CSV path is pandas' C parser plus a numpy field count per record (`_fields`) that tells
short and long records apart; the `csv` module reads the file only when the two disagree (or the
lines end in a bare carriage return). Everything is decompressed and read in memory.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from factory_mlops.config import ReadingsSource
from factory_mlops.sources._codes import (
    BINARY_CONTENT,
    BOOKKEEPING,
    DETAIL,
    ENCODING_ERROR,
    FILE_EMPTY,
    FILE_UNREADABLE,
    REASON,
    ROW_MALFORMED,
    ROW_NUMBER,
    ROW_TRUNCATED,
    UNPARSEABLE_FILE,
    WRONG_SEPARATOR,
)
from factory_mlops.sources._fields import record_field_counts
from factory_mlops.sources._time import NAT, format_instants

_SNIFF_BYTES = 65536
_SHOWN_EXTRA = 5  # surplus values of a malformed record quoted in its detail
_SEPARATOR_CANDIDATES = (";", "\t", "|", ",")
_SUFFIX_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd"}
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_ASCII_PROBE = "\n\r\t ,;|\"'.-:0123456789abcxyzABCXYZ"


class FileProblem(Exception):
    """The file cannot be read at all; the caller quarantines it whole.

    Attributes:
        reason: Reason code, e.g. `encoding_error`.
        detail: What failed, in which file, and which plant.yaml key fixes it.
        records: Number of data records when countable, else None.
    """

    def __init__(self, reason: str, detail: str, records: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.records = records


@dataclass
class RawTable:
    """A readable export as text.

    Attributes:
        frame: The records that have exactly the header's number of fields, source column names,
            every value a str ("" for an empty cell).
        row_numbers: int64, 1-based data-record number (header and blank lines not counted) of
            each row of `frame`.
        rejected: Records rejected as text: their fields under the source column names (missing
            fields ""), plus `reason`, `detail`, `row_number`.
        records_received: Data records in the file (`len(frame) + len(rejected)`).
    """

    frame: pd.DataFrame
    row_numbers: np.ndarray
    rejected: pd.DataFrame
    records_received: int


# ---- helpers shared with _canonical -------------------------------------------------------------
def rejected_frame(
    records: pd.DataFrame,
    reason: np.ndarray | str,
    detail: np.ndarray | str,
    row_numbers: np.ndarray,
) -> pd.DataFrame:
    """Rejected records: their source columns as str + `reason`, `detail`, `row_number`.

    A source column named like a bookkeeping column keeps its data as `received_<name>`.
    """
    frame = records.reset_index(drop=True)
    clash = {c: f"received_{c}" for c in frame.columns if c in BOOKKEEPING}
    frame = frame.rename(columns=clash) if clash else frame.copy()
    frame[REASON] = pd.Series(reason, index=frame.index, dtype=object)
    frame[DETAIL] = pd.Series(detail, index=frame.index, dtype=object)
    frame[ROW_NUMBER] = pd.Series(np.asarray(row_numbers, dtype=np.int64), index=frame.index)
    return frame


def empty_rejected(columns: list[str]) -> pd.DataFrame:
    """A rejected frame with no rows."""
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return rejected_frame(
        empty, np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.int64)
    )


def unique_names(names: list[str]) -> list[str]:
    """Column names as pandas makes them: "" -> `Unnamed: <i>`, repeats -> `name.1`, `name.2`."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        name = str(raw) if str(raw) != "" else f"Unnamed: {i}"
        base, k = name, 0
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        out.append(name)
    return out


# ---- bytes ---------------------------------------------------------------------------------------
def _compression(path: Path, rd: ReadingsSource) -> str | None:
    """The compression of the file: configured, or inferred from its suffix."""
    if rd.compression == "infer":
        return _SUFFIX_COMPRESSION.get(path.suffix.lower())
    return rd.compression


def _load_bytes(path: Path, rd: ReadingsSource) -> bytes:
    """The file's (decompressed) content, or FileProblem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem(
            FILE_UNREADABLE,
            f"{path}: cannot read the file ({exc.strerror or exc}); check that the export exists and "
            f"that the pipeline may read it",
        ) from None
    if not raw:
        raise FileProblem(
            FILE_EMPTY, f"{path}: the file is empty (0 bytes); re-export it from the historian", 0
        )
    kind = _compression(path, rd)
    if kind is None:
        return raw
    try:
        if kind == "gzip":
            return gzip.decompress(raw)
        if kind == "bz2":
            return bz2.decompress(raw)
        if kind == "xz":
            return lzma.decompress(raw)
        if kind == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise ValueError(
                        f"the archive holds {len(members)} files, expected exactly one"
                    )
                return archive.read(members[0])
        import zstandard  # optional, only for .zst exports

        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    except ImportError:
        raise FileProblem(
            UNPARSEABLE_FILE,
            f"{path}: zstd-compressed, but the 'zstandard' package is not installed; install it "
            f"or export uncompressed / gzip (source.readings.compression)",
        ) from None
    except (OSError, EOFError, ValueError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise FileProblem(
            UNPARSEABLE_FILE,
            f"{path}: cannot decompress as {kind} ({exc}); check source.readings.compression "
            f"(null for a plain file) or re-export the file (it may be incomplete)",
        ) from None


def _codec(encoding: str) -> str:
    """Python codec for `encoding`; UTF-8 is read as utf-8-sig so a byte-order mark is dropped."""
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def _ascii_compatible(codec: str) -> bool:
    """True when separators, quotes and line breaks are the ASCII bytes in this codec.

    Holds for UTF-8 and single-byte codecs such as Latin-1 and cp1252; multi-byte codecs (UTF-16,
    Shift-JIS...) are transcoded to UTF-8 first so the byte-level field count stays exact.
    """
    if codec == "utf-8-sig":
        return True
    try:
        if _ASCII_PROBE.encode(codec) != _ASCII_PROBE.encode("ascii"):
            return False
        return len(bytes(range(256)).decode(codec, errors="replace")) == 256
    except (UnicodeError, LookupError):
        return False


def _encoding_problem(
    path: Path, rd: ReadingsSource, data: bytes, exc: UnicodeDecodeError, records: int | None
) -> FileProblem:
    """An `encoding_error` naming the first undecodable byte and its offset in the file."""
    byte = bytes(exc.object[exc.start : exc.start + 1])
    shown = f"byte 0x{byte[0]:02x} " if byte else ""
    return FileProblem(
        ENCODING_ERROR,
        f"{path}: not valid {rd.encoding}: {shown}at byte offset {exc.start} cannot be decoded "
        f"({exc.reason}); set source.readings.encoding in plant.yaml to the export's encoding, "
        f"e.g. `source.readings.encoding: latin-1` (or cp1252 for Windows exports)",
        records,
    )


def _decode_offset(data: bytes, codec: str) -> UnicodeDecodeError | None:
    """The first decode error of `data` (absolute offsets), or None."""
    try:
        data.decode("utf-8" if codec == "utf-8-sig" else codec)  # utf-8: offsets count the BOM
    except UnicodeDecodeError as exc:
        return exc
    return None


# ---- CSV -----------------------------------------------------------------------------------------
def _split_line(line: str, sep: str | None) -> list[str]:
    """Fields of one line as pandas reads them (quote-aware)."""
    if sep is None:
        line = line.strip().replace("\t", " ")
        if not line:
            return []
        return next(csv.reader([line], delimiter=" ", skipinitialspace=True))
    return next(csv.reader([line], delimiter=sep), [])


def _first_line(data: bytes, codec: str) -> str | None:
    """The first non-blank line, decoded; None if there is none."""
    pos = 0
    while pos < len(data):
        brk = _LINE_BREAK.search(data, pos)
        end, nxt = (brk.start(), brk.end()) if brk else (len(data), len(data))
        chunk = data[pos:end].strip()
        if chunk and chunk != codecs.BOM_UTF8:
            return data[pos:end].decode(codec)
        pos = nxt
    return None


def _data_records(counts: np.ndarray | None, header: bool) -> int | None:
    """Data records from the field counts (header excluded), None when not countable."""
    if counts is None:
        return None
    return max(len(counts) - (1 if header else 0), 0)


def _pandas_sep(rd: ReadingsSource) -> str:
    """The `sep` argument of `pd.read_csv` for `source.readings.sep`."""
    return r"\s+" if rd.sep == "whitespace" else rd.sep


def _expected_names(
    path: Path, rd: ReadingsSource, first: str, sep: str | None, counts: np.ndarray | None
) -> list[str]:
    """Column names (from the header line or `names`) after the wrong-separator check."""
    try:
        fields = _split_line(first, sep)
    except csv.Error as exc:
        raise FileProblem(
            UNPARSEABLE_FILE,
            f"{path}: cannot parse the first line as CSV ({exc}); check source.readings.sep and "
            f"the quoting of the export",
            _data_records(counts, rd.header),
        ) from None
    names = list(rd.names) if rd.names else unique_names(fields)
    if len(fields) == 1 and (rd.header or len(names) > 1):
        found = [
            c
            for c in _SEPARATOR_CANDIDATES
            if c in first and c != rd.sep and not (sep is None and c == "\t")
        ]
        if found:
            what = "header line" if rd.header else "first line"
            shown = {"\t": "a tab"}.get(found[0], repr(found[0]))
            yaml_sep = {"\t": '"\\t"'}.get(found[0], f'"{found[0]}"')
            configured = "whitespace" if sep is None else repr(rd.sep)
            raise FileProblem(
                WRONG_SEPARATOR,
                f"{path}: the {what} is one single column with the configured separator "
                f"{configured}, but it contains {shown}; set `source.readings.sep: {yaml_sep}` "
                f"in plant.yaml (first line: {first[:120]!r})",
                _data_records(counts, rd.header),
            )
    return names


def _check_binary(path: Path, rd: ReadingsSource, data: bytes) -> None:
    """NUL bytes near the start: not a text export (or UTF-16 read as something else)."""
    if b"\x00" not in data[:_SNIFF_BYTES]:
        return
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(
            ENCODING_ERROR,
            f"{path}: the file is UTF-16 (it starts with a UTF-16 byte-order mark), but "
            f"source.readings.encoding is {rd.encoding!r}; set `source.readings.encoding: utf-16` "
            f"in plant.yaml",
        )
    raise FileProblem(
        BINARY_CONTENT,
        f"{path}: binary content (NUL bytes in the first {_SNIFF_BYTES // 1024} KiB), not a text "
        f"export; if it is Parquet set source.readings.format: parquet, if it is compressed set "
        f"source.readings.compression, otherwise re-export it as CSV",
        0,
    )


def _text_bytes(path: Path, rd: ReadingsSource) -> tuple[bytes, str]:
    """The file as bytes in an ASCII-compatible codec, and that codec."""
    data = _load_bytes(path, rd)
    codec = _codec(rd.encoding)
    if _ascii_compatible(codec):
        _check_binary(path, rd, data)
        return data, codec
    try:
        data = data.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_problem(path, rd, data, exc, None) from None
    _check_binary(path, rd, data)
    return data, "utf-8-sig"


def _read_csv(path: Path, rd: ReadingsSource) -> RawTable:
    """A delimited text export: file checks, header, then the fast path or the `csv` path."""
    data, codec = _text_bytes(path, rd)
    sep = None if rd.sep == "whitespace" else rd.sep
    counts = record_field_counts(data, sep)
    try:
        first = _first_line(data, codec)
    except UnicodeDecodeError:
        exc = _decode_offset(data, codec)
        assert exc is not None
        raise _encoding_problem(path, rd, data, exc, _data_records(counts, rd.header)) from None
    if first is None:
        raise FileProblem(
            FILE_EMPTY,
            f"{path}: no header line (the file holds only blank lines); re-export it from the historian",
            0,
        )
    names = _expected_names(path, rd, first, sep, counts)
    if counts is not None:
        table = _read_csv_fast(path, rd, data, codec, names, counts[1:] if rd.header else counts)
        if table is not None:
            return table
    return _read_csv_slow(path, rd, data, codec, sep, names)


def _truncated_detail(n: int, width: int) -> str:
    return (
        f"{ROW_TRUNCATED}: record has {n} of {width} fields; the line was cut short "
        f"(truncated export?)"
    )


def _malformed_detail(rd: ReadingsSource, n: int, width: int, extra: list[str]) -> str:
    against = "the header has" if rd.header and not rd.names else "source.readings.names lists"
    shown = ", ".join(repr(v) for v in extra[:_SHOWN_EXTRA])
    more = ", ..." if n - width > _SHOWN_EXTRA else ""
    return (
        f"{ROW_MALFORMED}: record has {n} fields, {against} {width}; check the separator/quoting "
        f"(source.readings.sep is {rd.sep!r}); extra values: {shown}{more}"
    )


def _read_csv_fast(
    path: Path, rd: ReadingsSource, data: bytes, codec: str, names: list[str], counts: np.ndarray
) -> RawTable | None:
    """pandas' C parser, with the numpy field counts deciding which records are broken.

    Records with too many fields would make pandas raise (or, on the first record, silently
    take a column as the index). With `usecols` pandas keeps every record instead, and
    placeholder names for up to five surplus fields keep those values for the detail; short
    records are padded with "". Returns None when pandas and the field counts disagree; the
    caller then takes the `csv` module path.
    """
    width = len(names)
    n_extra = max(int(counts.max(initial=width)) - width, 0)
    extra = [f"\x00surplus_{i}" for i in range(n_extra)]
    kept_extra = extra[:_SHOWN_EXTRA]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                sep=_pandas_sep(rd),
                header=0 if rd.header else None,
                names=names + extra,
                usecols=names + kept_extra,  # also switches off the tokenizer's width check
                # chunks without a surplus record would be narrower than `names`: one chunk
                low_memory=not extra,
                index_col=False,
                dtype=str,
                keep_default_na=False,
                encoding=codec,
                skip_blank_lines=True,
            )
    except UnicodeDecodeError:
        exc = _decode_offset(data, codec)
        if exc is None:  # pragma: no cover - pandas and Python disagree on the codec
            raise
        raise _encoding_problem(path, rd, data, exc, len(counts)) from None
    except (pd.errors.ParserError, csv.Error):
        return None
    except pd.errors.EmptyDataError:
        raise FileProblem(
            FILE_EMPTY, f"{path}: no header line; re-export it from the historian", 0
        ) from None
    if len(frame) != len(counts) or list(frame.columns) != names + kept_extra:
        return None
    surplus = frame[kept_extra] if kept_extra else None
    frame = frame[names] if kept_extra else frame
    row_numbers = np.arange(1, len(frame) + 1, dtype=np.int64)
    short = counts < width
    long = counts > width
    bad = short | long
    if not bad.any():
        return RawTable(frame, row_numbers, empty_rejected(names), len(frame))
    reason = np.where(long[bad], ROW_MALFORMED, ROW_TRUNCATED).astype(object)
    detail = np.empty(int(bad.sum()), dtype=object)
    for j, i in enumerate(np.flatnonzero(bad)):
        n = int(counts[i])
        if n < width:
            detail[j] = _truncated_detail(n, width)
        else:
            assert surplus is not None
            detail[j] = _malformed_detail(rd, n, width, surplus.iloc[i].tolist()[: n - width])
    rejected = rejected_frame(frame[bad], reason, detail, row_numbers[bad])
    keep = ~bad
    return RawTable(frame[keep].reset_index(drop=True), row_numbers[keep], rejected, len(frame))


def _read_csv_slow(
    path: Path, rd: ReadingsSource, data: bytes, codec: str, sep: str | None, names: list[str]
) -> RawTable:
    """The error path: every record through the `csv` module, bad ones rejected one by one."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        exc = _decode_offset(data, codec)
        assert exc is not None
        raise _encoding_problem(path, rd, data, exc, None) from None
    try:
        if sep is None:
            lines = (ln.strip().replace("\t", " ") for ln in text.splitlines())
            records = csv.reader((ln for ln in lines if ln), delimiter=" ", skipinitialspace=True)
        else:
            records = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        parsed = [r for r in records if r and not (len(r) == 1 and not r[0].strip())]
    except csv.Error as exc:
        raise FileProblem(
            UNPARSEABLE_FILE,
            f"{path}: cannot parse as CSV ({exc}); check source.readings.sep and the quoting of the export",
        ) from None
    if rd.header:
        parsed = parsed[1:]
    width = len(names)
    good: list[list[str]] = []
    good_numbers: list[int] = []
    bad: list[list[str]] = []
    bad_reason: list[str] = []
    bad_detail: list[str] = []
    bad_numbers: list[int] = []
    for number, record in enumerate(parsed, start=1):
        n = len(record)
        if n == width:
            good.append(record)
            good_numbers.append(number)
            continue
        bad_numbers.append(number)
        if n < width:
            bad.append(record + [""] * (width - n))
            bad_reason.append(ROW_TRUNCATED)
            bad_detail.append(_truncated_detail(n, width))
        else:
            bad.append(record[:width])
            bad_reason.append(ROW_MALFORMED)
            bad_detail.append(_malformed_detail(rd, n, width, record[width:]))
    frame = (
        pd.DataFrame(good, columns=names, dtype=object)
        if good
        else pd.DataFrame({c: pd.Series([], dtype=object) for c in names})
    )
    if bad:
        rejected = rejected_frame(
            pd.DataFrame(bad, columns=names, dtype=object),
            np.array(bad_reason, dtype=object),
            np.array(bad_detail, dtype=object),
            np.array(bad_numbers, dtype=np.int64),
        )
    else:
        rejected = empty_rejected(names)
    return RawTable(frame, np.array(good_numbers, dtype=np.int64), rejected, len(parsed))


# ---- Parquet -------------------------------------------------------------------------------------
def _arrow_column_as_str(col: pa.ChunkedArray) -> np.ndarray:
    """One Arrow column as an object array of str ("" for null and NaN).

    Timestamps are written like the canonical ones (`...Z` for zone-aware columns, no zone for
    naive ones, which the time rules then treat as naive strings).
    """
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if pa.types.is_floating(col.type):  # NaN is a missing value too, like null
        col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)
    if pa.types.is_timestamp(col.type):
        per_tick = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[col.type.unit]
        null = pc.is_null(col).to_numpy(zero_copy_only=False)
        ticks = pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy(zero_copy_only=False)
        fits = np.abs(ticks) < np.iinfo(np.int64).max // per_tick
        ns = np.where(fits & ~null, ticks * np.where(fits, per_tick, 0), NAT)
        return format_instants(ns, zone=col.type.tz is not None)  # aware Arrow stores UTC
    try:
        text = col if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) else None
        text = pc.cast(col, pa.string()) if text is None else text
        return np.asarray(pc.fill_null(text, "").to_numpy(zero_copy_only=False), dtype=object)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return np.array(["" if v is None else str(v) for v in col.to_pylist()], dtype=object)


def _read_parquet(path: Path) -> RawTable:
    """A Parquet export with every column as str; Parquet has no text-level record errors."""
    try:
        size = os.stat(path).st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise FileProblem(
            FILE_UNREADABLE,
            f"{path}: cannot read the file ({exc.strerror or exc}); check that the export exists and "
            f"that the pipeline may read it",
        ) from None
    if size == 0:
        raise FileProblem(
            FILE_EMPTY, f"{path}: the file is empty (0 bytes); re-export it from the historian", 0
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileProblem(
            UNPARSEABLE_FILE,
            f"{path}: cannot be read as Parquet ({exc}); check source.readings.format (csv or "
            f"parquet) and that the export is complete",
            0,
        ) from None
    names = unique_names([str(c) for c in table.column_names])
    frame = pd.DataFrame(
        {name: _arrow_column_as_str(col) for name, col in zip(names, table.columns, strict=True)},
        copy=False,
    )
    if frame.empty and not len(frame.columns):
        frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    n = table.num_rows
    return RawTable(frame, np.arange(1, n + 1, dtype=np.int64), empty_rejected(names), n)


# ---- public to the package -----------------------------------------------------------------------
def read_raw(path: Path, rd: ReadingsSource) -> RawTable:
    """Read an export into a raw all-string table.

    Args:
        path: The export file.
        rd: `source.readings` of the plant.

    Returns:
        The readable records and the records rejected as text.

    Raises:
        FileProblem: If the file cannot be read at all (reason codes `file_unreadable`,
            `file_empty`, `binary_content`, `encoding_error`, `wrong_separator`,
            `unparseable_file`).
    """
    if rd.format == "parquet":
        return _read_parquet(path)
    return _read_csv(path, rd)


def read_raw_column(path: Path, rd: ReadingsSource, column: str) -> pd.Series | None:
    """One source column of an export as str, read cheaply (bad lines skipped); None if absent.

    Raises:
        FileProblem: If the file cannot be read at all.
    """
    if rd.format == "parquet":
        try:
            schema = pq.read_schema(path)
            if column not in schema.names:
                return None
            table = pq.read_table(path, columns=[column])
        except OSError as exc:
            raise FileProblem(FILE_UNREADABLE, f"{path}: {exc}") from None
        except (pa.ArrowException, ValueError) as exc:
            raise FileProblem(UNPARSEABLE_FILE, f"{path}: {exc}") from None
        return pd.Series(_arrow_column_as_str(table.column(0)), dtype=object)
    data, codec = _text_bytes(path, rd)
    sep = None if rd.sep == "whitespace" else rd.sep
    first = _first_line(data, codec)
    if first is None:
        raise FileProblem(FILE_EMPTY, f"{path}: no header line")
    names = _expected_names(path, rd, first, sep, None)
    if column not in names:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=_pandas_sep(rd),
            header=0 if rd.header else None,
            names=names,
            usecols=[column],
            index_col=False,
            dtype=str,
            keep_default_na=False,
            encoding=codec,
            on_bad_lines="skip",
        )
    return frame[column]
