"""Figures in one consistent style (PNG and PDF), and the progress bar long work shows.

The shared style, labels and helpers live here; each figure family has its own module
(:mod:`matsign.plots.newton_schulz`, ...).
"""

from __future__ import annotations

import math
from pathlib import Path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
}

#: How the papers name each schedule.
SCHEDULE_LABELS = {
    "cubic": "cubic NS",
    "muon": "Muon quintic",
    "you5": "You (5 steps)",
    "polar_express": "Polar Express",
    "polar_express8": "Polar Express (8)",
    "cans": "CANS",
    "aol4": "Turbo-Muon AOL (4)",
    "deepseek_v4": "DeepSeek-V4",
}


class _Silent:
    """Stands in for a progress bar when tqdm is missing."""

    def update(self, n=1):
        pass

    def close(self):
        pass


#: Errors at or below this are float64 rounding (or exactly 0); log axes stop there.
ERROR_FLOOR = 1e-16

COLUMN_LABELS = {
    "uniform": "uniform columns (Low-rank Muon)",
    "norm": "norm² sampling",
    "l1_topk": "L1 top-k (Dion2 score)",
    "leverage": "leverage scores",
    "pivoted_qr": "pivoted QR",
}


def _given(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def method_label(method: str, params: dict) -> str:
    """How the papers name a method with these parameters (the rank, swept on an axis, left out).

    Examples
    --------
    >>> method_label("gaussian", {"rank": 8, "power_iters": 2, "oversample": 0})
    'Gaussian sketch + 2 power its (HMT)'
    >>> method_label("newton_schulz", {"schedule": "polar_express"})
    'Polar Express'
    """
    if method == "gaussian":
        q = int(params.get("power_iters", 0) or 0)
        label = "Gaussian sketch (He et al.)" if q == 0 else f"Gaussian sketch + {q} power it{'s' if q > 1 else ''} (HMT)"
        p = params.get("oversample")
        return label + (f", p = {int(p)}" if _given(p) and p else "")
    if method == "column":
        return COLUMN_LABELS.get(params.get("strategy"), f"columns: {params.get('strategy')}")
    if method == "newton_schulz":
        return SCHEDULE_LABELS.get(params.get("schedule"), str(params.get("schedule")))
    if method == "muoneq":
        return f"MuonEq-{params.get('mode')}"
    if method == "dion2":
        return f"Dion2 ({params.get('score')} score)"
    return {"oracle": r"oracle $U_rV_r^\top$", "exact_svd": "exact (SVD)", "exact_eigh": "exact (Gram eigh)",
            "exact_ns": "exact (NS to convergence)", "qdwh": "exact (QDWH)",
            "galore": "GaLore projector", "gum": "GUM"}.get(method, method)


def source_label(row) -> str:
    """Short title of a matrix source from a table row (a mapping)."""
    name = row["source"]
    if name == "power_law":
        return rf"power law $\sigma_i = i^{{-{row['alpha']:g}}}$"
    if name == "exponential":
        return rf"exponential $\sigma_i = e^{{-{row['rate']:g}(i-1)}}$"
    if name == "low_rank_noise":
        return f"rank {int(row['signal_rank'])} + noise {row['noise']:g}"
    if name == "log_uniform":
        return rf"log-uniform, $\kappa$ = {row['kappa']:.0e}"
    if name == "student_t":
        return f"Student-t entries, ν = {int(row['dof'])}"
    if name == "scale_mismatch":
        spreads = [f"{side} scales ×{row[key]:.0e}" for side, key in (("row", "row_spread"), ("column", "col_spread"))
                   if row[key] > 1]
        return ", ".join(spreads) or "no scale mismatch"
    if name == "recorded":
        return f"{row['tensor']}\n{row['kind']}, step {int(row['step'])}"
    return name


def progress_bar(total: int, *, desc: str, initial: int = 0, disable: bool = False):
    """A ``tqdm`` counter of ``total`` items starting at ``initial`` (silent if tqdm is missing).

    Call ``update(k)`` as items finish and ``close()`` at the end.
    """
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Silent()
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, unit="cell")


def log_axes(ax, *, x: bool = False, y: bool = True):
    """Log scale on the chosen axes of ``ax``; a log x axis is labelled on its decades only."""
    from matplotlib.ticker import NullFormatter

    if x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    if y:
        ax.set_yscale("log")


def save(fig, stem: Path):
    """Write ``stem.png`` and ``stem.pdf``; return the PNG path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), bbox_inches="tight")
    fig.savefig(stem.with_suffix(".pdf"), bbox_inches="tight")
    return stem.with_suffix(".png")
