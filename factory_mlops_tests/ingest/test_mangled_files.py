"""Randomly mangled exports (cut, spliced, corrupted bytes) never crash ingest and keep the counts.

A deterministic fuzz over the three ways a plant reads files (plant_a's CSV with timestamps, the
AI4I export with an index as time, the header-less C-MAPSS export): whatever the bytes, ingest
returns a report, rows_received == rows_accepted + rows_quarantined, and the quarantine on disk
holds exactly the quarantined rows.
"""

import gzip
import lzma
import random

import pandas as pd
import pytest

from factory_mlops.config import load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore
from factory_mlops.pipeline import ingest_file
from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.ingest.test_bad_batches import good_frame


def _sample(plant: str) -> bytes:
    if plant == "plant_a":
        return good_frame(minutes=60).to_csv(index=False).encode()
    if plant == "ai4i_mill":
        return gzip.decompress((PLANTS / plant / "data" / "ai4i2020.csv.gz").read_bytes())[:15000]
    return lzma.decompress((PLANTS / plant / "data" / "train_FD002.txt.xz").read_bytes())[:15000]


def _mangle(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 25)):
        if not out:
            break
        op, pos = rng.random(), rng.randrange(len(out))
        if op < 0.3:
            del out[pos : pos + rng.randint(1, 40)]
        elif op < 0.6:
            out[pos:pos] = bytes(
                rng.choice(b',;"\n\r\t x0.-:Z\xff\x00\xc3') for _ in range(rng.randint(1, 5))
            )
        elif op < 0.85:
            out[pos] = rng.randrange(256)
        else:
            del out[pos:]
    return bytes(out)


@pytest.mark.parametrize("plant", ["plant_a", "ai4i_mill", "cmapss_fd002"])
def test_mangled_files_never_crash_and_keep_the_counts(plant, tmp_path):
    config = load_plant_config(PLANTS / plant / "plant.yaml")
    home = FactoryHome(tmp_path / "home").ensure()
    store = ReadingsStore(home, plant)
    rng = random.Random(plant)
    base = _sample(plant)
    statuses = set()
    for i in range(25):
        path = tmp_path / f"mangled_{i}.csv"
        path.write_bytes(_mangle(base, rng))
        report = ingest_file(config, home, path, now=pd.Timestamp("2026-12-01T00:00:00Z"))
        assert report.rows_received == report.rows_accepted + report.rows_quarantined
        qpath = store.quarantine_path(report.source_key)
        assert (len(pd.read_parquet(qpath)) if qpath.exists() else 0) == report.rows_quarantined
        statuses.add(report.status)
    assert statuses - {"accepted"}  # the mangling did produce bad batches
