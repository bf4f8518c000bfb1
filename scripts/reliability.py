"""Reliability count: bad inputs of every kind against matsign, and what came back.

Usage: ``python scripts/reliability.py [--quick]`` (from the repository root; ``--quick`` tries a
few inputs per category). Prints a markdown table: per category the inputs tried, the clear
errors, the correct results and the silent failures, then each silent failure on its own line.

- A **clear error** is a ``ValueError`` (``DumpError`` for files) or, for an argument of the
  wrong type, a ``TypeError``, whose message names the bad argument or file; on the command
  line, a non-zero exit with a one-line message and no traceback.
- A **correct result** is a result for a valid input that agrees with the oracle: for the scale
  cases, the same function on the unscaled float64 matrix, scaled by ``c^d`` for a function of
  degree ``d`` (NaN exactly where the unscaled result is NaN, which the API documents).
- A **silent failure** is anything else: a NaN, inf or all-zero result where the oracle has none,
  a result far from the oracle, a result for an input that should have been refused, or any
  other exception (a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

import matsign
from matsign import exact, lowrank, spectral, transforms, updates
from matsign.io import DumpError, load_gradients

CLEAR = "clear error"
CORRECT = "correct result"
SILENT = "silent failure"


def _values(result):
    """A function's result as one float64 vector (arrays, tuples, dicts, projectors, steps)."""
    if isinstance(result, updates.StepResult):
        result = result.update
    if isinstance(result, transforms.Projector):
        result = result.P
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, tuple):
        return np.concatenate([_values(part) for part in result]) if result else np.zeros(0)
    return np.asarray(result, dtype=np.float64).ravel()


# ------------------------------------------------------------------------------------------
# Numeric inputs: every public function that takes a matrix, with its degree of homogeneity
# (f(c·G) = c^d·f(G)); None where a constant of the definition breaks it (MuonEq's eps, the
# orthogonality error's unit reference) and only finiteness and the NaN pattern are checked.

def _on_range(G, X):
    """``U_r U_rᵀ X``, ``U_r`` the range of ``G`` (float64 SVD): where the iterations to the sign
    are defined on a singular ``G`` (the null-space part of their result is documented as not
    converged)."""
    U, s, _ = np.linalg.svd(np.asarray(G, dtype=np.float64), full_matrices=False)
    U = U[:, : int(np.sum(s > max(G.shape) * np.finfo(G.dtype).eps * s[0]))] if s.size and s[0] > 0 else U[:, :0]
    return U @ (U.T @ np.asarray(X, dtype=np.float64))


def _q(G):
    if not isinstance(G, np.ndarray) or G.ndim != 2 or 0 in G.shape:
        return np.eye(2)[:, :1]  # a valid basis beside a bad G: the error must be about G
    return np.linalg.qr(np.random.default_rng(0).standard_normal((G.shape[-2], 1)))[0].astype(G.dtype)


FUNCTIONS = {
    "msign": (matsign.msign, 0),
    "msign(eigh)": (lambda G: matsign.msign(G, method="eigh"), 0),
    "newton_schulz": (matsign.newton_schulz, 0),
    "gram_newton_schulz": (exact.gram_newton_schulz, 0),
    "converged_newton_schulz": (lambda G: _on_range(G, exact.converged_newton_schulz(G)), 0),
    "qdwh_sign": (lambda G: _on_range(G, exact.qdwh_sign(G)), 0),
    "singular_values": (matsign.singular_values, 1),
    "stable_rank": (matsign.stable_rank, 0),
    "condition_number": (matsign.condition_number, 0),
    "effective_rank": (matsign.effective_rank, 0),
    "numerical_rank": (matsign.numerical_rank, 0),
    "nuclear_norm": (spectral.nuclear_norm, 1),
    "spectral_norm": (spectral.spectral_norm, 1),
    "power_law_exponent": (spectral.power_law_exponent, 0),
    "tail_energy": (lambda G: spectral.tail_energy(G, 1), 0),
    "spectral_summary": (spectral.spectral_summary, None),
    "relative_error": (lambda G: matsign.relative_error(G, G), 0),
    "alignment": (lambda G: matsign.alignment(matsign.msign(G), G), 0),
    "orthogonality_error": (matsign.orthogonality_error, None),
    "rank_floor": (lambda G: matsign.rank_floor(G, 1), 0),
    "equilibrate": (matsign.equilibrate, None),
    "equilibration_factors": (lambda G: transforms.equilibration_factors(G, "RC"), None),
    "select_slices": (lambda G: matsign.select_slices(G, 0.5), 0),
    "dion2_msign": (lambda G: transforms.dion2_msign(G, 0.5), 0),
    "galore_projector": (lambda G: transforms.galore_projector(G, 1), 0),
    "residual_ratio": (lambda G: transforms.residual_ratio(G, transforms.galore_projector(G, 1)), 0),
    "gaussian_range": (lambda G: matsign.gaussian_range(G, 1, rng=0), 0),
    "column_range": (lambda G: matsign.column_range(G, 1, strategy="leverage", rng=0), 0),
    "lowrank_msign": (lambda G: matsign.lowrank_msign(G, _q(G)), 0),
    "sketched_msign": (lambda G: matsign.sketched_msign(G, 1, rng=0), 0),
    "oracle_lowrank_sign": (lambda G: lowrank.oracle_lowrank_sign(G, 1), 0),
    "Muon.step": (lambda G: updates.Muon().step(G), 0),
    "MuonEq.step": (lambda G: updates.MuonEq("RC").step(G), None),
    "LowRankMuon.step": (lambda G: updates.LowRankMuon(1, rng=0).step(G), 0),
    "Dion.step": (lambda G: updates.Dion(1, rng=0).step(G), 0),
    "Dion2.step": (lambda G: updates.Dion2(0.5, rng=0).step(G), 0),
    "GaLoreMuon.step": (lambda G: updates.GaLoreMuon(1).step(G), 0),
    "GUM.step": (lambda G: updates.GUM(1, rng=0).step(G), 0),
}

BAD_MATRICES = {
    "NaN entry": np.array([[1.0, np.nan, 0.0], [0.0, 1.0, 2.0]]),
    "inf entry": np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 2.0]]),
    "-inf entry": np.array([[1.0, -np.inf, 0.0], [0.0, 1.0, 2.0]]),
    "0-D": np.array(1.0),
    "1-D": np.ones(3),
    "empty": np.ones((0, 3)),
    "integer dtype": np.ones((2, 3), dtype=np.int64),
    "complex dtype": np.ones((2, 3), dtype=np.complex128),
    "nested list": [[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]],
}

#: The names public functions give their matrix arguments.
MATRIX_NAMES = ("G", "M", "X", "Y")

_G = np.array([[2.0, 1.0, 0.0, 1.0], [0.0, 1.0, 3.0, 1.0], [1.0, 0.0, 1.0, 2.0]])

#: Valid matrices, invalid options: each must be refused with a ValueError naming the option.
BAD_OPTIONS = {
    "msign rtol=-1": lambda: matsign.msign(_G, rtol=-1.0),
    "msign method='qr'": lambda: matsign.msign(_G, method="qr"),
    "newton_schulz unknown schedule": lambda: matsign.newton_schulz(_G, "no-such-schedule"),
    "newton_schulz steps=-1": lambda: matsign.newton_schulz(_G, steps=-1),
    "newton_schulz normalize='x'": lambda: matsign.newton_schulz(_G, normalize="x"),
    "converged_newton_schulz lower=2": lambda: exact.converged_newton_schulz(_G, lower=2.0),
    "qdwh_sign lower=-1": lambda: exact.qdwh_sign(_G, lower=-1.0),
    "condition_number rtol=2": lambda: matsign.condition_number(_G, rtol=2.0),
    "stable_rank method='x'": lambda: matsign.stable_rank(_G, method="x"),
    "spectral_norm tol=-1": lambda: spectral.spectral_norm(_G, tol=-1.0),
    "tail_energy rank=-1": lambda: spectral.tail_energy(_G, -1),
    "relative_error shapes differ": lambda: matsign.relative_error(_G, _G[:2]),
    "relative_error ord=3": lambda: matsign.relative_error(_G, _G, ord=3),
    "alignment shapes differ": lambda: matsign.alignment(_G, _G.T),
    "rank_floor rank=0": lambda: matsign.rank_floor(_G, 0),
    "equilibrate mode='X'": lambda: matsign.equilibrate(_G, "X"),
    "equilibrate exponent=1": lambda: matsign.equilibrate(_G, exponent=1.0),
    "equilibrate eps=-1": lambda: matsign.equilibrate(_G, eps=-1.0),
    "select_slices fraction=0": lambda: matsign.select_slices(_G, 0.0),
    "select_slices fraction=1.5": lambda: matsign.select_slices(_G, 1.5),
    "select_slices fraction=NaN": lambda: matsign.select_slices(_G, math.nan),
    "select_slices score='x'": lambda: matsign.select_slices(_G, 0.5, score="x"),
    "gaussian_range rank=0": lambda: matsign.gaussian_range(_G, 0),
    "gaussian_range rank=100": lambda: matsign.gaussian_range(_G, 100),
    "gaussian_range oversample=-1": lambda: matsign.gaussian_range(_G, 1, oversample=-1),
    "gaussian_range power_iters=-1": lambda: matsign.gaussian_range(_G, 1, power_iters=-1),
    "gaussian_range normalizer='x'": lambda: matsign.gaussian_range(_G, 1, normalizer="x"),
    "column_range strategy='x'": lambda: matsign.column_range(_G, 1, strategy="x"),
    "column_range rank=100": lambda: matsign.column_range(_G, 100),
    "lowrank_msign Q rows differ": lambda: matsign.lowrank_msign(_G, np.eye(5)[:, :1]),
    "sketched_msign rank=0": lambda: matsign.sketched_msign(_G, 0),
    "sketched_msign range='x'": lambda: matsign.sketched_msign(_G, 1, range="x"),
    "scalar_map sigma=-1": lambda: matsign.scalar_map(np.array([-1.0])),
    "scalar_map sigma=NaN": lambda: matsign.scalar_map(np.array([math.nan])),
    "polar_express_schedule steps=0": lambda: matsign.polar_express_schedule(0),
    "polar_express_schedule lower=2": lambda: matsign.polar_express_schedule(5, lower=2.0),
    "get_schedule unknown": lambda: matsign.get_schedule("no-such-schedule"),
    "get_method unknown": lambda: matsign.get_method("no-such-method"),
    "dion2_msign fraction=0": lambda: transforms.dion2_msign(_G, 0.0),
    "galore_projector rank=0": lambda: transforms.galore_projector(_G, 0),
    "Muon momentum=1.5": lambda: updates.Muon(momentum=1.5),
    "Muon step shape changes": lambda: _two_steps(updates.Muon()),
    "Dion rank=0": lambda: updates.Dion(0),
    "Dion2 fraction=0": lambda: updates.Dion2(0.0),
    "LowRankMuon rank=0": lambda: updates.LowRankMuon(0),
    "GaLoreMuon period=0": lambda: updates.GaLoreMuon(1, period=0),
    "GUM q=2": lambda: updates.GUM(1, q=2.0),
}


def _two_steps(rule):
    rule.step(_G)
    return rule.step(_G.T)


def _judge_refused(call, names):
    """The outcome of a call that must raise (a bad input) with a message naming one of ``names``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError) as exc:
        if any(re.search(rf"\b{re.escape(name)}\b", str(exc)) for name in names):
            return CLEAR, ""
        return SILENT, f"{type(exc).__name__} not naming {' or '.join(names)}: {exc}"
    except Exception as exc:  # anything else is a traceback the user did not ask for
        return SILENT, f"{type(exc).__name__}: {exc}"
    return SILENT, "accepted"


def bad_numeric_inputs(quick=False):
    """Every matrix function × every bad matrix, then the bad options."""
    functions = list(FUNCTIONS.items())[:4] if quick else FUNCTIONS.items()
    bad = list(BAD_MATRICES.items())[:3] if quick else BAD_MATRICES.items()
    for name, (function, _) in functions:
        for label, M in bad:
            yield f"{name}({label})", *_judge_refused(lambda: function(M), MATRIX_NAMES)
    options = list(BAD_OPTIONS.items())[:5] if quick else BAD_OPTIONS.items()
    for label, call in options:
        # "f option=value" must name the option; the others the argument or what is unknown.
        words = label.split()
        names = [words[1].split("=")[0]] if "=" in words[1] else ["unknown", "shape", "shapes", "G", "Q", "rows"]
        yield label, *_judge_refused(call, names)


# ------------------------------------------------------------------------------------------
# Scale cases: valid matrices from 1e-310 (subnormal entries) to 1e300, against the oracle.

def _matrices():
    rng = np.random.default_rng(2026)
    ints = lambda *shape: rng.integers(-3, 4, shape).astype(np.float64)  # noqa: E731
    return {
        "full rank 5×7": ints(5, 7),
        "rank 2, 6×6": ints(6, 2) @ ints(2, 6),
        "1×6": ints(1, 6),
        "6×1": ints(6, 1),
        "zero 4×3": np.zeros((4, 3)),
    }


SCALES = {"float64": (1e-310, 1e-300, 1e-150, 1.0, 1e150, 1e300), "float32": (1e-30, 1e-20, 1.0, 1e20, 1e30)}
#: Relative agreement asked of c^(−d)·f(c·G) with f(G): rounding c·G once and a few hundred
#: roundings more on these small well-conditioned matrices (the property tests bound it tighter).
RTOL = {"float64": 1e-8, "float32": 1e-3}


def _judge_scaled(function, degree, G, c, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # documented warnings (e.g. NS to convergence on a singular G)
        try:
            expected = _values(function(G.astype(dtype)))  # same dtype: the same random draws
        except ValueError:
            return CLEAR, ""  # refused at unit scale too: not a scale problem
        try:
            result = _values(function((G * c).astype(dtype)))
        except (ValueError, TypeError) as exc:
            return SILENT, f"refused a valid input: {exc}"
        except Exception as exc:
            return SILENT, f"{type(exc).__name__}: {exc}"
    if result.shape != expected.shape:
        return SILENT, f"shape {result.shape}, oracle {expected.shape}"
    if np.any(np.isnan(result) != np.isnan(expected)):
        return SILENT, f"NaN where the oracle has {expected[np.isnan(result)]}"
    ok = ~np.isnan(expected)
    if np.any(np.isinf(result[ok])):
        return SILENT, "inf where the oracle is finite"
    if np.any(expected[ok] != 0) and not np.any(result[ok] != 0):
        return SILENT, "all zero where the oracle is not"
    if degree is not None:
        scaled = result[ok] / c**degree if degree else result[ok]
        if not np.allclose(scaled, expected[ok], rtol=RTOL[dtype], atol=RTOL[dtype] * np.max(np.abs(expected[ok]), initial=0)):
            return SILENT, f"far from the oracle: {scaled[:4]} vs {expected[ok][:4]}"
    return CORRECT, ""


def scale_cases(quick=False):
    """Every matrix function on each test matrix at each scale (float64 and float32)."""
    matrices = _matrices()
    functions = list(FUNCTIONS.items())[:4] if quick else FUNCTIONS.items()
    for name, (function, degree) in functions:
        for label, G in (list(matrices.items())[:2] if quick else matrices.items()):
            for dtype, scales in SCALES.items():
                for c in (scales[:1] + scales[-1:] if quick else scales):
                    yield f"{name}({label}·{c:g}, {dtype})", *_judge_scaled(function, degree, G, c, dtype)


# ------------------------------------------------------------------------------------------
# Files from outside: malicious or corrupt dumps must each be a DumpError naming the file.

def _safetensors(header: bytes, data: bytes = b"") -> bytes:
    return len(header).to_bytes(8, "little") + header + data


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def _npy(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


def _bad_dumps():
    good_npz = _npz({"w.npy": _npy(np.ones((2, 3)))})
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    return {
        "empty.npz": b"",
        "garbage.npz": b"not a zip archive at all",
        "truncated.npz": good_npz[: len(good_npz) // 2],
        "pickled-object.npz": _npz({"w.npy": _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)}),
        "lying-header.npz": _npz({"w.npy": _npy(np.ones((2, 3)))[:80] + b"\x00" * 8}),
        "pickled.npy": _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "garbage.npy": b"\x93NUMPY\x01\x00garbage",
        "deep.safetensors": _safetensors(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "repeated.safetensors": _safetensors(f'{{"w": {entry}, "w": {entry}}}'.encode(), bytes(4)),
        "overlap.safetensors": _safetensors(json.dumps({
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode(), bytes(12)),
        "too-short.safetensors": _safetensors(json.dumps(
            {"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}).encode(), bytes(16)),
        "huge-header.safetensors": (2**62).to_bytes(8, "little") + b"{}",
        "not-json.safetensors": _safetensors(b"\xff\xfe not json"),
        "pickle.pt": b"\x80\x04\x95" + b"cos\nsystem\n(S'echo owned'\ntR." ,
        "truncated.pt": _npz({"archive/data.pkl": b"\x80\x02}q\x00."})[:40],
        "manifest-dir/manifest.json": b'{"files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "binary-manifest-dir/manifest.json": b"\xff\xfe\x00\x01",
    }


def bad_dumps(quick=False):
    """Each hostile or broken file (or directory) through ``load_gradients``."""
    items = list(_bad_dumps().items())
    with tempfile.TemporaryDirectory() as root:
        for name, payload in (items[:4] if quick else items):
            path = Path(root) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
            target = path.parent if name.endswith("manifest.json") else path
            if target.is_dir():
                np.savez(target / "step-000001.npz", w=np.ones((2, 3)))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    records = [record.load() for record in load_gradients(target)]
            except DumpError as exc:
                named = target.name in str(exc) or path.name in str(exc)
                yield name, *((CLEAR, "") if named else (SILENT, f"DumpError not naming the file: {exc}"))
            except Exception as exc:
                yield name, SILENT, f"{type(exc).__name__}: {exc}"
            else:
                yield name, SILENT, f"loaded {len(records)} record(s) from a bad file"


# ------------------------------------------------------------------------------------------
# Command lines: each must exit non-zero with a one-line message, before any work.

def _bad_command_lines(root: Path):
    garbage = root / "garbage.toml"
    garbage.write_text("this is = = not toml")
    unknown = root / "unknown.toml"
    unknown.write_text('seeds = [0]\nbogus = 1\n[[sources]]\nfamily = "power_law"\nm = 4\nn = 6\n'
                       '[[methods]]\nname = "exact_svd"\n')
    too_big = root / "rank.toml"
    too_big.write_text('seeds = [0]\n[[sources]]\nfamily = "power_law"\nm = 4\nn = 6\n'
                       '[[methods]]\nname = "gaussian"\nrank = 9\n')
    a_file = root / "a-file"
    a_file.write_text("x")
    out = ["--out", str(root / "out")]
    return {
        "no command": [],
        "unknown command": ["frobnicate"],
        "run without a name": ["run"],
        "run unknown experiment": ["run", "no-such-experiment", *out],
        "run --workers 0": ["run", "error-vs-rank", "--workers", "0", *out],
        "run --workers x": ["run", "error-vs-rank", "--workers", "x", *out],
        "run --backend jax": ["run", "error-vs-rank", "--backend", "jax", *out],
        "run missing config": ["run", "error-vs-rank", "--config", str(root / "missing.toml"), *out],
        "run invalid TOML": ["run", "error-vs-rank", "--config", str(garbage), *out],
        "run unknown config key": ["run", "error-vs-rank", "--config", str(unknown), *out],
        "run rank above the matrix": ["run", "error-vs-rank", "--config", str(too_big), *out],
        "run bad scheduler address": ["run", "error-vs-rank", "--scheduler", "garbage", *out],
        "run --out is a file": ["run", "error-vs-rank", "--quick", "--out", str(a_file)],
        "spectra without a path": ["spectra"],
        "spectra missing path": ["spectra", str(root / "missing"), *out, "--figures", str(root / "f")],
        "spectra not a dump": ["spectra", str(garbage), *out, "--figures", str(root / "f")],
        "spectra --ranks 0": ["spectra", "matsign/data/recorded", "--ranks", "0", *out, "--figures", str(root / "f")],
        "list --bogus": ["list", "--bogus"],
    }


def bad_command_lines(quick=False):
    """Each bad ``matsign`` command line through :func:`matsign.cli.main`."""
    from matsign.cli import main

    with tempfile.TemporaryDirectory() as root:
        items = list(_bad_command_lines(Path(root)).items())
        for label, argv in (items[:4] if quick else items):
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    status = main(argv)
            except SystemExit as exc:
                status = exc.code
            except Exception as exc:
                yield label, SILENT, f"traceback: {type(exc).__name__}: {exc}"
                continue
            message = err.getvalue().strip()
            if status in (0, None):
                yield label, SILENT, "exit status 0"
            elif "Traceback" in message or not message:
                yield label, SILENT, f"exit {status} without a one-line message"
            else:
                yield label, CLEAR, ""


CATEGORIES = {
    "bad numeric inputs and options (every public function)": bad_numeric_inputs,
    "valid matrices at scales 1e-310 … 1e300 (float64), 1e-30 … 1e30 (float32)": scale_cases,
    "malicious or corrupt dumps": bad_dumps,
    "bad command lines": bad_command_lines,
}


def count(quick: bool = False) -> dict[str, dict]:
    """Outcomes per category: ``{category: {"tried": n, CLEAR: n, CORRECT: n, SILENT: n, "failures": [...]}}``."""
    table = {}
    for category, trials in CATEGORIES.items():
        row = {"tried": 0, CLEAR: 0, CORRECT: 0, SILENT: 0, "failures": []}
        for label, outcome, detail in trials(quick):
            row["tried"] += 1
            row[outcome] += 1
            if outcome == SILENT:
                row["failures"].append(f"{label}: {detail}")
        table[category] = row
    return table


def markdown(table) -> str:
    lines = ["| category | inputs tried | clear errors | correct results | silent failures |",
             "|---|---:|---:|---:|---:|"]
    for category, row in table.items():
        lines.append(f"| {category} | {row['tried']} | {row[CLEAR]} | {row[CORRECT]} | {row[SILENT]} |")
    total = {k: sum(row[k] for row in table.values()) for k in ("tried", CLEAR, CORRECT, SILENT)}
    lines.append(f"| **all** | {total['tried']} | {total[CLEAR]} | {total[CORRECT]} | {total[SILENT]} |")
    failures = [f for row in table.values() for f in row["failures"]]
    return "\n".join(lines + ([""] + [f"- silent failure: {f}" for f in failures] if failures else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few inputs per category")
    args = parser.parse_args(argv)
    table = count(args.quick)
    print(markdown(table))
    return 1 if any(row[SILENT] for row in table.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
