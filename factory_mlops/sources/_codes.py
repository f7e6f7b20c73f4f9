"""Reason codes of the source adapter.

File-level codes go into `SourceBatch.file_error` (the caller quarantines the file whole);
record-level codes go into `SourceBatch.rejected["reason"]`. The two timestamp codes share their
spelling with the data contract's row-level codes on purpose.
"""

from __future__ import annotations

# ---- whole file ------------------------------------------------------------------------------
FILE_UNREADABLE = "file_unreadable"
FILE_EMPTY = "file_empty"
BINARY_CONTENT = "binary_content"
ENCODING_ERROR = "encoding_error"
WRONG_SEPARATOR = "wrong_separator"
UNPARSEABLE_FILE = "unparseable_file"
MISSING_COLUMNS = "missing_columns"

# ---- one source record -----------------------------------------------------------------------
ROW_TRUNCATED = "row_truncated"
ROW_MALFORMED = "row_malformed"
TIMESTAMP_UNPARSEABLE = "timestamp_unparseable"
TIMESTAMP_AMBIGUOUS_LOCAL_TIME = "timestamp_ambiguous_local_time"
TAG_UNKNOWN = "tag_unknown"
DUPLICATE_RECORD = "duplicate_record"
QUALITY_BAD = "quality_bad"

# Bookkeeping columns of `SourceBatch.rejected`, appended to the record's source columns.
REASON = "reason"
DETAIL = "detail"
ROW_NUMBER = "row_number"
BOOKKEEPING = (REASON, DETAIL, ROW_NUMBER)
