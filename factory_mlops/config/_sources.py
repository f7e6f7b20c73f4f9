"""The `source:` block of plant.yaml: how a historian export maps onto the plant's readings.

Everything a plant needs to ingest its own exports is configuration: file format, header or given
names, separator, encoding, how time is written (timestamps with a zone, naive timestamps in a
stated zone, or an index/cycle column with a period), which column names the machine, wide or long
(tag, value) layout, the column mapping, unit scale/offset and where labels come from.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from typing import Literal

from pydantic import Field, model_validator

from factory_mlops.config._base import _Strict


class TimeSource(_Strict):
    """Where a reading's time comes from.

    Either a timestamp `column` (ISO 8601 by default, or `format` as strftime; naive values are
    read in `timezone`) or an `index_column` (cycle number, sample index) turned into time as
    `origin + index * period_s`.
    """

    column: str = Field("timestamp", description="Source column holding the timestamp.")
    format: str | None = Field(
        None, description="strftime format, e.g. '%d.%m.%Y %H:%M:%S'; null = ISO 8601."
    )
    timezone: str | None = Field(
        None,
        description="IANA zone of naive timestamps, e.g. 'Europe/Berlin'; null = they must carry an offset.",
    )
    index_column: str | None = Field(None, description="Integer index/cycle column used as time.")
    period_s: float | None = Field(None, gt=0, description="Seconds between two index steps.")
    origin: dt.datetime | None = Field(
        None, description="Time of index 0 (with a zone), e.g. 2026-01-01T00:00:00Z."
    )

    @model_validator(mode="after")
    def _index_complete(self) -> TimeSource:
        if self.index_column is not None:
            if self.period_s is None or self.origin is None:
                raise ValueError("time.index_column needs time.period_s and time.origin")
            if self.origin.tzinfo is None:
                raise ValueError("time.origin needs a zone, e.g. 2026-01-01T00:00:00Z")
        if self.format is not None:
            sample = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
            try:
                dt.datetime.strptime(sample.strftime(self.format), self.format)
            except ValueError as exc:
                raise ValueError(
                    f"time.format {self.format!r} is not a usable strftime format ({exc}); "
                    "e.g. '%d.%m.%Y %H:%M:%S'"
                ) from None
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"time.timezone {self.timezone!r} is not an IANA zone (e.g. 'Europe/Berlin')"
                ) from None
        return self


class MachineSource(_Strict):
    """Where a reading's machine id comes from: a `column` (optionally through a `template` such as
    'engine_{:03d}', applied to integer values) or one `constant` id for a single-machine export."""

    column: str | None = "machine_id"
    template: str | None = Field(
        None, description="Python format applied to the column value, e.g. 'engine_{:03d}'."
    )
    constant: str | None = Field(None, description="Every row belongs to this machine.")

    @model_validator(mode="after")
    def _one(self) -> MachineSource:
        if (
            self.constant is not None
            and self.column is not None
            and "column" in self.model_fields_set
        ):
            raise ValueError("machine: give either column (+ template) or constant, not both")
        if self.template is not None:
            try:
                self.template.format(1)
            except (IndexError, KeyError, ValueError) as exc:
                raise ValueError(
                    f"machine.template {self.template!r} cannot format an integer ({exc}); "
                    "use e.g. 'engine_{:03d}'"
                ) from None
        return self


class LongLayout(_Strict):
    """Long layout: one row per (time, machine, tag) with the value in `value_column`.

    Historian long exports (PI, Wonderware, Ignition: `Timestamp;Tagname;Value;Quality`) often put
    machine and sensor into one tag name: `tag_pattern` splits it, and `quality_column` rejects
    records whose quality is not good. Both apply to `layout: long` only.
    """

    tag_column: str = "tag"
    value_column: str = "value"
    tag_pattern: str | None = Field(
        None,
        description=(
            "Long layout only. Regex with named groups `machine` and `sensor`, matched against the "
            "whole tag, e.g. '(?P<machine>press_\\d+)\\.(?P<sensor>[A-Z_]+)\\.PV'. The machine id is "
            "the `machine` group (through machine.template if set; machine.column is not used); "
            "the `sensor` group is what `columns` maps (lake name: sensor part). A tag that does "
            "not match is rejected as tag_unknown."
        ),
    )
    quality_column: str | None = Field(
        None,
        description=(
            "Long layout only. Column with the historian's quality flag; records whose value is "
            "not in `good_quality` are rejected as quality_bad. The column is consumed."
        ),
    )
    good_quality: list[str] = Field(
        default_factory=lambda: ["Good", "GOOD", "good", "192", "0"],
        description="Long layout only. Quality values that mean the record is good (compared after stripping).",
    )

    @model_validator(mode="after")
    def _pattern(self) -> LongLayout:
        if self.tag_pattern is not None:
            key = "source.readings.long.tag_pattern"
            try:
                groups = re.compile(self.tag_pattern).groupindex
                re.compile(f"^(?:{self.tag_pattern})\\Z")  # how it is applied (fullmatch)
            except re.error as exc:
                raise ValueError(
                    f"{key} {self.tag_pattern!r} is not a valid regex ({exc})"
                ) from None
            missing = [g for g in ("machine", "sensor") if g not in groups]
            if missing:
                raise ValueError(
                    f"{key} {self.tag_pattern!r} lacks the named group(s) {missing}; use e.g. "
                    "'(?P<machine>press_\\d+)\\.(?P<sensor>[A-Z_]+)\\.PV'"
                )
        if self.quality_column is not None and not self.good_quality:
            raise ValueError(
                "source.readings.long.good_quality is empty: every record would be rejected"
            )
        return self


class UnitConversion(_Strict):
    """Lake value = source value * scale + offset (e.g. kelvin -> degC: offset -273.15)."""

    scale: float = 1.0
    offset: float = 0.0


class ReadingsSource(_Strict):
    """How to read one readings export."""

    format: Literal["csv", "parquet"] = "csv"
    pattern: str = Field("*.csv", description="Glob of the files the landing-zone sensor picks up.")
    compression: Literal["infer", "gzip", "bz2", "zip", "xz", "zstd"] | None = "infer"
    header: bool = Field(True, description="False: the file has no header; give `names`.")
    names: list[str] | None = Field(
        None, description="Column names of a header-less file, in order."
    )
    sep: str = Field(",", description="Field separator; 'whitespace' = any run of spaces/tabs.")
    encoding: str = "utf-8"
    decimal: str = "."
    layout: Literal["wide", "long"] = "wide"
    long: LongLayout = Field(default_factory=LongLayout)
    time: TimeSource = Field(default_factory=TimeSource)
    machine: MachineSource = Field(default_factory=MachineSource)
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Lake name -> source column (wide) or tag (long), for sensors, categories and the label.",
    )
    units: dict[str, UnitConversion] = Field(
        default_factory=dict, description="Sensor -> unit scale/offset."
    )
    ignore: list[str] = Field(
        default_factory=list, description="Source columns dropped without a warning."
    )
    arrival_column: str | None = Field(
        None, description="Column with the time the row reached the historian."
    )

    @model_validator(mode="after")
    def _names(self) -> ReadingsSource:
        if not self.header and not self.names:
            raise ValueError("readings.header is false: list the columns in readings.names")
        if self.names is not None and len(set(self.names)) != len(self.names):
            raise ValueError(f"readings.names repeats a column: {self.names}")
        if len(self.sep) != 1 and self.sep != "whitespace":
            raise ValueError(
                f"readings.sep must be one character or 'whitespace', got {self.sep!r}"
            )
        if len(self.decimal) != 1 or self.decimal == self.sep:
            raise ValueError(
                f"readings.decimal must be one character other than the separator, got {self.decimal!r}"
            )
        if self.long.tag_pattern is not None:
            if self.machine.constant is not None:
                raise ValueError(
                    "source.readings.long.tag_pattern gives the machine id: remove machine.constant"
                )
            if "column" in self.machine.model_fields_set and self.machine.column is not None:
                raise ValueError(
                    "source.readings.long.tag_pattern gives the machine id: remove machine.column "
                    "(machine.template still applies to the `machine` group)"
                )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"readings.encoding {self.encoding!r} is not a known encoding (e.g. 'utf-8', 'latin-1', 'cp1252')"
            ) from None
        return self


LabelKind = Literal["event_log", "label_column", "run_to_failure", "none"]


class LabelSource(_Strict):
    """Where failure labels come from.

    - `event_log`: maintenance-log files (`event_time, reported_at, machine_id, event, failure_type,
      downtime_hours`) in `landing/<plant>/maintenance/`.
    - `label_column`: a column of the readings (mapped as `label` in `readings.columns`); a row whose
      value is in `positive` is a failure of that machine at that time.
    - `run_to_failure`: every machine's last reading in a file is its failure (run-to-failure data).
    - `none`: no labels (monitoring only).
    """

    kind: LabelKind = "event_log"
    positive: list[str] = Field(default_factory=lambda: ["1", "1.0", "true", "True", "TRUE", "yes"])
    failure_type_columns: list[str] = Field(
        default_factory=list,
        description="label_column: 0/1 source columns naming the failure mode.",
    )
    report_delay_hours: float = Field(
        0.0, ge=0, description="Derived labels are known this long after the event."
    )
    episode_gap_s: float | None = Field(
        None,
        ge=0,
        description=(
            "Failure events (positive label rows, logged failures, anomaly intervals) of one "
            "machine at most this many seconds apart form ONE failure episode, counted once from "
            "its onset. null = twice the largest sensor cadence_s (consecutive labelled rows, "
            "tolerating one missing row); 0 = only events at the same instant merge."
        ),
    )


class SourceConfig(_Strict):
    """How the plant's historian exports and labels are read."""

    readings: ReadingsSource = Field(default_factory=ReadingsSource)
    labels: LabelSource = Field(default_factory=LabelSource)
