"""Line plots of the pipelines' sweeps (matplotlib, no display needed), written atomically."""
from __future__ import annotations

from pathlib import Path


def plot_width_sweep(path: Path, rows: list[dict], best: float) -> Path:
    """Cumulative current against the CWD cutoff, the selected cutoff marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .quicklook import save_figure

    x = [r["cutoff"] for r in rows]
    y = [r["cumulative_current"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(x, y, "o-", color="#336699")
    yb = next(r["cumulative_current"] for r in rows if r["cutoff"] == best)
    ax.plot([best], [yb], "o", ms=12, mfc="none", mec="#cc3300", mew=2, label=f"selected: {best:g}")
    ax.set_xlabel("CWD cutoff (corridor width)")
    ax.set_ylabel("cumulative current in corridors")
    ax.set_title("corridor width sweep")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_source_sweep(path: Path, rows: list[dict], unit: str) -> Path:
    """NC and PC against the distance threshold (Conefor sweep)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .quicklook import save_figure

    x = [r["distance"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(x, [r["nc"] for r in rows], "o-", color="#336699", label="NC")
    ax.set_xlabel(f"distance threshold ({unit})")
    ax.set_ylabel("number of components (NC)", color="#336699")
    ax2 = ax.twinx()
    ax2.plot(x, [r["pc"] for r in rows], "s-", color="#cc3300", label="PC")
    ax2.set_ylabel("probability of connectivity (PC)", color="#cc3300")
    ax.set_title("connectivity against the distance threshold")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
