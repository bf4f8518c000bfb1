"""Training the comparison's missing runs into its resumable table: the results file (its
columns, which rows make a complete run, the settings check) and the executors, in this
process or in spawned worker processes."""

from __future__ import annotations

from pathlib import Path

from matsign.experiments.config import ConfigError
from matsign.experiments.store import ResultsStore, parse_column
from matsign.experiments.train_compare.settings import NAME, Settings
from matsign.experiments.train_compare.summary import last_points, lr_scores, selected_lr, tuning_grid
from matsign.experiments.train_compare.training import train_one

__all__ = ["open_results", "read_table", "train_missing_runs"]


def _columns(settings: Settings) -> list[str]:
    """The table's columns, in the order of :func:`train_one`'s rows."""
    return ["rule", "kind", "label", "family", "rank", "fraction", "lr", "seed", "diverged", "rule_ms", "step_ms",
            "run_s", "state_bytes", *settings.columns(), "device", "torch", "step", "val_loss", "train_loss"]


def _run_key(row) -> tuple:
    """``(rule, lr, seed)`` of a row as read from the file."""
    return row["rule"], float(row["lr"]), int(row["seed"])


def _complete(rows: list[dict], settings: Settings) -> bool:
    """Whether the rows of one run (in file order) are all it writes: every validation step, or,
    for a diverged run, those before it diverged and the last step."""
    steps, expected = [int(row["step"]) for row in rows], list(settings.validation_steps())
    if steps == expected:
        return True
    diverged = all(row["diverged"] == "True" for row in rows)
    return diverged and steps[-1:] == expected[-1:] and steps[:-1] == expected[: len(steps) - 1]


def open_results(csv: Path, settings: Settings, device) -> ResultsStore:
    """The results file, refused if it holds runs with other settings or device; runs a crash
    cut short are dropped from it, so they train again."""
    expected = {**settings.columns(), "device": str(device)}

    def check(header, rows):
        for key, value in expected.items():
            if key not in header:
                raise ConfigError(f"{csv} is not a table of this comparison (no {key!r} column); "
                                  "remove it or write to another directory")
            seen = list(dict.fromkeys(parse_column(key, [row[key] for row in rows])))
            same = seen == [value] or (value is None and all(v is None or v != v for v in seen))
            if seen and not same:
                raise ConfigError(f"{csv} holds runs with other settings ({key} = {seen}, now {value!r}); "
                                  "remove it or write to another directory")

    return ResultsStore(csv, _columns(settings), key=_run_key, complete=lambda rows: _complete(rows, settings),
                        check=check)


def read_table(csv: Path):
    """The results file as a DataFrame."""
    import pandas as pd

    return pd.read_csv(csv)


_CORPUS = []


def _train_in_worker(rule, lr, seed, settings: Settings, device) -> list:
    """:func:`train_one` in a worker process: its thread count set, its corpus loaded once."""
    import torch

    from matsign.recorder.data import load_corpus

    if not _CORPUS:
        _CORPUS.append(load_corpus())
        if settings.threads is not None and torch.device(device).type == "cpu":
            torch.set_num_threads(settings.threads)
    return train_one(rule, lr, seed, settings, _CORPUS[0], device)


class _InProcess:
    """The executor of ``workers=1``: runs each task when its result is asked for."""

    def __init__(self, corpus, settings, device):
        self.corpus, self.settings, self.device = corpus, settings, device

    def map(self, tasks):
        for rule, lr, seed in tasks:
            yield train_one(rule, lr, seed, self.settings, self.corpus, self.device)


class _Pool:
    """``workers`` processes (spawned, so no thread pool is forked) yielding runs as they finish."""

    def __init__(self, workers, settings, device):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.settings, self.device = settings, device
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, tasks):
        from concurrent.futures import as_completed

        futures = [self.pool.submit(_train_in_worker, *task, self.settings, self.device) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self):
        self.pool.shutdown(cancel_futures=True)


def train_missing_runs(results: ResultsStore, settings: Settings, device, progress: bool, workers: int) -> None:
    """Train the protocol's runs not yet in ``results``: the tuning grids on the first seed, in
    waves until no grid extends (:func:`tuning_grid`), then the other seeds at the selected
    learning rates."""
    import torch

    from matsign.plots import progress_bar
    from matsign.recorder.data import load_corpus

    tuning_seed, other_seeds = settings.seeds[0], settings.seeds[1:]
    names = settings.rule_names()
    bar = progress_bar(len(names) * (len(settings.lrs) + len(other_seeds)), desc=NAME, disable=not progress)
    threads = torch.get_num_threads()
    if settings.threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(settings.threads)
    executor = _InProcess(load_corpus(), settings, device) if workers == 1 else _Pool(workers, settings, device)

    def train(tasks):
        if len(tasks) > bar.total - bar.n:
            bar.total = bar.n + len(tasks)
            bar.refresh()
        for rows in executor.map(tasks):
            results.append(rows)
            bar.update()

    try:
        while True:
            wave = [(rule, lr, tuning_seed) for rule, lrs in _pending_lrs(results, settings).items() for lr in lrs]
            if not wave:
                break
            train(wave)
        best = selected_lr(read_table(results.path), tuning_seed)
        train([(rule, best[rule], seed) for rule in names for seed in other_seeds
               if (rule, float(best[rule]), seed) not in results])
    finally:
        bar.close()
        if workers > 1:
            executor.close()
        torch.set_num_threads(threads)


def _pending_lrs(results: ResultsStore, settings: Settings) -> dict:
    """Rule → the learning rates its tuning still needs (:func:`tuning_grid`)."""
    tuning = None
    if results.path.exists() and results.groups:
        table = read_table(results.path)
        tuning = last_points(table[table["seed"] == settings.seeds[0]])
    pending = {}
    for rule in settings.rule_names():
        mine = tuning[tuning["rule"] == rule] if tuning is not None else ()
        pending[rule] = tuning_grid(lr_scores(mine) if len(mine) else {}, settings)[1]
    return pending
