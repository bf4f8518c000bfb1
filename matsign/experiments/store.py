"""The resumable results file: a CSV table that grows as work finishes and resumes after a crash.

A :class:`ResultsStore` holds groups of rows under a key (one cell of a sweep, one training run
of ``train-compare``). Each finished group is appended with one ``write`` and one ``flush``, so
an interruption loses at most the unfinished groups. Opening the file again reads the finished
groups back, so the caller skips them: nothing is lost or duplicated. A line cut short by a crash,
and a group that its ``complete`` test rejects (rows missing, a duplicated key), are dropped and
the file rewritten without them, so that work runs again. So is a row that does not parse
(a field count other than the header's, or one that its ``valid`` test rejects), with a warning
naming its line: a garbage line is never kept as a row.

**One writer at a time.** On POSIX, a store holds an advisory lock (:func:`fcntl.flock`) on
``NAME.csv.lock`` beside the file, from opening to closing, with its PID written in it; a second
store on the same file refuses at once (:class:`ResultsLocked`, naming the lock file and the
holder's PID) rather than wait. The lock file is removed on closing; one left behind by a killed
process holds no lock and is reused. Elsewhere (no :mod:`fcntl`) there is no lock.

Values are written as text: ``repr`` for floats (read back exactly by :func:`parse_column`),
``str`` otherwise, the empty string for None.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

__all__ = ["ResultsError", "ResultsLocked", "ResultsStore", "check_directory", "format_value", "parse_column",
           "read_table"]


class ResultsError(ValueError):
    """A file at a results path that is not a results table of this kind; the message names the
    file and what to do."""


class ResultsLocked(ResultsError):
    """Another process is writing the results file; the message names the lock file and its PID."""


def _lock(path: Path):
    """An open file descriptor holding an exclusive lock on ``path`` (created), with this PID
    written in it; None without :mod:`fcntl`.

    Raises
    ------
    ResultsLocked
        If another process holds it.
    """
    if fcntl is None:
        return None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ResultsLocked(f"{path.with_suffix('')} is being written by another run (PID {holder}, lock file "
                                f"{path}); wait for it to finish, or write this run elsewhere (--out DIR)") from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:  # not a lock file its holder removed meanwhile
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _unlock(path: Path, fd) -> None:
    """Remove the lock file ``path`` and release the lock ``fd`` (from :func:`_lock`)."""
    if fd is not None:
        path.unlink(missing_ok=True)
        os.close(fd)


def check_directory(path, what: str) -> None:
    """Raise a :class:`ResultsError` if files cannot be written in the directory ``path``
    (created later if missing): a file in its place or in its parents' places, or no permission
    to write in the nearest one that exists. ``what`` names it in the message (e.g. ``--out``).
    """
    path = Path(path)
    for existing in (path, *path.parents):
        if existing.exists():
            if not existing.is_dir():
                raise ResultsError(f"{what} {path}: {existing} is a file, not a directory; give a directory")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise ResultsError(f"{what} {path}: no permission to write in {existing}")
            return


def format_value(value) -> str:
    """``value`` as it is written to the file: ``repr`` of a float, ``""`` for None, else ``str``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _one_row(rows: list[dict]) -> bool:
    return len(rows) == 1


class ResultsStore:
    """A CSV file of keyed groups of rows, appended group by group and resumed.

    Parameters
    ----------
    path : str or Path
        The CSV file; created, with its folders and a header, if missing.
    columns : list of str
        This run's columns; columns the file has beyond them are kept after them.
    key : callable
        ``key(row) -> hashable`` of a row as read from the file (a dict of strings).
    complete : callable, optional
        ``complete(rows) -> bool`` for the rows of one key, in file order: whether they are all
        that the key's work writes. Default: exactly one row per key.
    check : callable, optional
        ``check(header, rows)`` on an existing file's header and rows (dicts of strings), before
        anything is rewritten: raises if the file is not a table this run may extend.
    valid : callable, optional
        ``valid(row) -> str or None`` for each row of an existing file that has the header's
        field count: why the row is garbage (it is dropped, with a warning), None to keep it.

    Raises
    ------
    ResultsLocked
        If another process has the file open in a store (POSIX).

    Notes
    -----
    The file is only ever replaced whole through a temporary file (:func:`os.replace`), so a
    crash while rewriting leaves the old file or the new one.
    """

    def __init__(self, path, columns, *, key: Callable, complete: Callable = _one_row, check: Callable | None = None,
                 valid: Callable | None = None):
        self.path = Path(path)
        self.columns = list(columns)
        self.key = key
        self.groups: dict = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = _lock(self._lock_path)
        try:
            if self.path.exists() and self._read_complete_text():
                self._load(complete, check, valid)
            else:
                self._rewrite([])
            self._file = open(self.path, "a", newline="", encoding="utf-8")
        except BaseException:
            self._release()
            raise
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, lineterminator="\n")

    def __contains__(self, key) -> bool:
        return key in self.groups

    def _read_complete_text(self) -> str:
        """The file's text without a last line cut short (remembering whether one was cut)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ResultsError(f"{self.path} is not a text table (not UTF-8); move it away, or write this run "
                               "elsewhere") from None
        complete = text[: text.rfind("\n") + 1]
        self._cut_short = complete != text
        return complete

    def _load(self, complete, check, valid):
        reader = csv.DictReader(self._read_complete_text().splitlines())
        header = reader.fieldnames or []
        read = [(reader.line_num, row) for row in reader]
        rows, dropped = [], []
        for line, row in read:
            fields = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or ())
            if fields != len(header):
                reason = f"{fields} fields, the header has {len(header)}"
            else:
                reason = valid(row) if valid is not None else None
            if reason is None:
                rows.append(row)
            else:
                dropped.append(f"{self.path}, line {line}: dropped a row that does not parse ({reason}); "
                               "its work runs again")
        if check is not None:
            check(header, rows)
        for message in dropped:
            warnings.warn(message, stacklevel=4)
        self.columns += [c for c in header if c not in self.columns]
        by_key: dict = {}
        for row in rows:
            by_key.setdefault(self.key(row), []).append(row)
        self.groups = {key: group for key, group in by_key.items() if complete(group)}
        kept = sum(map(len, self.groups.values()))
        if self._cut_short or header != self.columns or kept != len(read):
            self._rewrite(self.rows())

    def rows(self, last=()) -> list[dict]:
        """Every stored row: the groups not in ``last`` in file order, then those of ``last`` in that order."""
        last = list(last)
        chosen = set(last)
        first = [row for key, group in self.groups.items() if key not in chosen for row in group]
        return first + [row for key in last for row in self.groups[key]]

    def _rewrite(self, rows):
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def append(self, rows: list[dict]) -> None:
        """Write the rows of one key (one write, then flush) and remember them."""
        formatted = [{c: format_value(row.get(c)) for c in self.columns} for row in rows]
        self._writer.writerows(formatted)
        self._file.flush()
        self.groups[self.key(formatted[0])] = formatted

    def finish(self, order=()) -> None:
        """Close the file and rewrite it with the groups of ``order`` last, in that order."""
        self._file.close()
        try:
            self._rewrite(self.rows(order))
        finally:
            self._release()

    def close(self) -> None:
        """Close the file as it is (after an interruption) and release its lock (again: nothing)."""
        self._file.close()
        self._release()

    def _release(self) -> None:
        """Release the lock, once."""
        _unlock(self._lock_path, self._lock)
        self._lock = None


def parse_column(name: str, values: list[str]) -> list:
    """A column of the file as ints, floats (exact round trip of ``repr``; empty = NaN) or
    strings (empty = None); the ``key`` column stays strings."""
    if name != "key":
        present = [v for v in values if v != ""]
        try:
            if len(present) == len(values):
                return [int(v) for v in values]
        except ValueError:
            pass
        try:
            return [float(v) if v != "" else math.nan for v in values]
        except ValueError:
            pass
    return [v if v != "" else None for v in values]


def read_table(path, keys: list[str], columns: list[str]):
    """The rows of ``keys`` (in that order, by their ``key`` column) and ``columns`` of the file
    as a DataFrame, numbers parsed exactly (:func:`parse_column`)."""
    import pandas as pd

    with open(path, newline="", encoding="utf-8") as f:
        rows = {row["key"]: row for row in csv.DictReader(f)}
    return pd.DataFrame({name: parse_column(name, [rows[k][name] for k in keys]) for name in columns})
