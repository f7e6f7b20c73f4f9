"""The library's tables and charts as Dagster metadata values (nothing decided here)."""

from __future__ import annotations

import base64

import dagster as dg

from factory_mlops.tables import Table


def table(t: Table) -> dg.MetadataValue:
    """`MetadataValue.table` with the `TableSchema` of `t`'s typed columns."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name=c.name, type=c.type, description=c.description or None)
            for c in t.columns
        ]
    )
    records = [dg.TableRecord(data={c.name: row.get(c.name) for c in t.columns}) for row in t.rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def image(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG chart shown inline in the Dagster UI (Markdown with a data URI)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
