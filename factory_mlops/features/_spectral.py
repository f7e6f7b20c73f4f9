"""Spectral band energy of high-rate channels over a trailing window.

The window `[T - w, T)` is put on a regular grid of `sample_s` slots (the last reading of each
slot; empty slots take the window mean), de-meaned, Hann-tapered and transformed with a real FFT.
A band's energy is the mean of |X(f)|^2 over the FFT bins with lo <= f < hi (hi inclusive for the
last band at Nyquist), normalised by the number of slots. Fewer than half the slots filled: NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from factory_mlops.features._spec import SpectralSpec


def band_energy(
    ts_ns: np.ndarray, values: np.ndarray, spec: SpectralSpec, step_ns: int, ends_ns: np.ndarray
) -> np.ndarray:
    """Band energies (len(ends), n_channels * n_bands) of one machine, channel-major."""
    slot_ns = spec.sample_s * 1_000_000_000
    m = spec.window_minutes * 60 // spec.sample_s
    n_ch, n_b = values.shape[1], len(spec.bands_hz)
    out = np.full((len(ends_ns), n_ch * n_b), np.nan)
    if len(ends_ns) == 0 or len(ts_ns) == 0:
        return out
    slot = ts_ns // slot_ns
    s0 = int(ends_ns.min() // slot_ns) - m
    s1 = int(ends_ns.max() // slot_ns)
    keep = (slot >= s0) & (slot < s1)
    grid = np.full((s1 - s0, n_ch), np.nan)
    # rows are time-sorted: assigning in order leaves the last reading of each slot
    grid[slot[keep] - s0] = values[keep]
    freqs = np.fft.rfftfreq(m, d=spec.sample_s)
    masks = []
    for i, (lo, hi) in enumerate(spec.bands_hz):
        top = freqs <= hi if i == n_b - 1 else freqs < hi
        masks.append((freqs >= lo) & top)
    taper = np.hanning(m)
    ends = (ends_ns // slot_ns) - s0  # exclusive end slot of each window
    for c in range(n_ch):
        wins = sliding_window_view(grid[:, c], m)[ends - m]  # (n_ends, m)
        valid = ~np.isnan(wins)
        cnt = valid.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(
                cnt > 0, np.where(valid, wins, 0.0).sum(axis=1) / np.maximum(cnt, 1), 0.0
            )
        x = np.where(valid, wins - mean[:, None], 0.0) * taper
        power = np.abs(np.fft.rfft(x, axis=1)) ** 2 / m
        ok = cnt * 2 >= m
        for b, mask in enumerate(masks):
            e = power[:, mask].mean(axis=1) if mask.any() else np.full(len(ends), np.nan)
            out[:, c * n_b + b] = np.where(ok, e, np.nan)
    return out
