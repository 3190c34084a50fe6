"""Stored evaluation runs: ``<runs_dir>/<set name>/eval-<UTC timestamp>.json``, newest sorting last."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson

from headway.errors import HeadwayError
from headway.evals.result import EvalRun

DEFAULT_RUNS_DIR = Path(".headway/evals")
_PREFIX = "eval-"


def save_run(run: EvalRun, directory: str | Path = DEFAULT_RUNS_DIR) -> Path:
    folder = Path(directory) / run.set_name
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.fromtimestamp(run.finished_at, dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    data = orjson.dumps(run.to_dict(), option=orjson.OPT_INDENT_2)
    for attempt in range(1000):
        path = folder / f"{_PREFIX}{stamp}{'-' + str(attempt) if attempt else ''}.json"
        try:
            with path.open("xb") as handle:
                handle.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name for {stamp} in {folder}")


def saved_runs(directory: str | Path, set_name: str | None = None, *, route: str | None = None, limit: int = 50) -> list[tuple[Path, EvalRun]]:
    """Stored runs, newest first: of one set (or every set), optionally against one route."""
    root = Path(directory)
    folders = [root / set_name] if set_name else sorted(p for p in root.glob("*") if p.is_dir())
    paths = sorted((p for folder in folders if folder.is_dir() for p in folder.glob(f"{_PREFIX}*.json")), key=lambda p: p.name, reverse=True)
    out: list[tuple[Path, EvalRun]] = []
    for path in paths:
        try:
            run = EvalRun.from_dict(orjson.loads(path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HeadwayError(f"the evaluation run {path} cannot be read: {exc}") from None
        if route is None or run.route == route:
            out.append((path, run))
        if len(out) >= limit:
            break
    return out
