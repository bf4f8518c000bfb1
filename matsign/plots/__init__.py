"""Figures in one consistent style (PNG and PDF), and the progress bar long work shows.

The shared style, labels and helpers live here; each figure family has its own module
(:mod:`matsign.plots.newton_schulz`, ...).
"""

from __future__ import annotations

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


def progress_bar(items, *, desc: str, disable: bool = False):
    """``tqdm`` over ``items`` (a plain iterator when tqdm is missing or ``disable``)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iter(items)
    return tqdm(items, desc=desc, disable=disable)


def save(fig, stem: Path):
    """Write ``stem.png`` and ``stem.pdf``; return the PNG path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), bbox_inches="tight")
    fig.savefig(stem.with_suffix(".pdf"), bbox_inches="tight")
    return stem.with_suffix(".png")
