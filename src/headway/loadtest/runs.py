"""Stored runs: one JSON file per run, named so that the newest sorts last.

File names are ``loadtest-<UTC timestamp to the microsecond>.json``; the fixed-width
timestamp makes name order equal time order, so ``latest_run`` needs no file dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson

from headway.loadtest.report import LoadReport

DEFAULT_RUNS_DIR = Path(".headway/loadtests")
_PREFIX = "loadtest-"


def save_run(report: LoadReport, directory: str | Path = DEFAULT_RUNS_DIR) -> Path:
    """Write ``report`` as ``<directory>/loadtest-<timestamp>.json`` and return the path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromtimestamp(report.finished_at, dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    data = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    for attempt in range(1000):
        # Two runs finishing in the same microsecond get -1, -2... and still sort after the first.
        suffix = f"-{attempt}" if attempt else ""
        path = folder / f"{_PREFIX}{stamp}{suffix}.json"
        try:
            with path.open("xb") as handle:
                handle.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not find a free file name for {stamp} in {folder}")


def latest_run(directory: str | Path = DEFAULT_RUNS_DIR) -> LoadReport | None:
    """The newest stored run in ``directory``, or ``None`` when there is none."""
    folder = Path(directory)
    if not folder.is_dir():
        return None
    paths = sorted(folder.glob(f"{_PREFIX}*.json"), key=_sort_key)
    if not paths:
        return None
    return LoadReport.from_dict(orjson.loads(paths[-1].read_bytes()))


def _sort_key(path: Path) -> tuple[str, int]:
    stem = path.stem.removeprefix(_PREFIX)
    stamp, _, rest = stem.partition("Z")
    suffix = rest.removeprefix("-")
    return (stamp, int(suffix) if suffix.isdigit() else 0)
