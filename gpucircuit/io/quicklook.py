"""PNG quick-looks of result maps (matplotlib, no display needed), written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_png(path, data: np.ndarray, title: str = "", log: bool = False, cmap: str = "viridis",
             max_pixels: int = 2_000_000) -> Path:
    """Write a quick-look image of ``data`` (NaN = transparent); large rasters are decimated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    a = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(a)
    if finite.any() and finite.mean() < 0.5:  # crop to the data (corridors cover little of a region)
        rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
        pad = max(2, int(0.03 * max(a.shape)))
        a = a[max(rows[0] - pad, 0):rows[-1] + pad + 1, max(cols[0] - pad, 0):cols[-1] + pad + 1]
    step = max(1, int(np.ceil(np.sqrt(a.size / max_pixels))))
    a = a[::step, ::step]
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(a > 0, np.log10(np.where(a > 0, a, 1)), np.nan)
    fig, ax = plt.subplots(figsize=(8, 8 * a.shape[0] / max(a.shape[1], 1) + 0.6), dpi=110)
    im = ax.imshow(np.ma.masked_invalid(a), cmap=cmap, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="log10" if log else None)
    ax.set_title(title, fontsize=10, wrap=True)
    ax.set_axis_off()
    return save_figure(fig, path)


def save_figure(fig, path) -> Path:
    """Write a matplotlib figure to PNG atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
