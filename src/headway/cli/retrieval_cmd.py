"""``headway retrieval eval``: recall@k, MRR and nDCG@k of each ranking mode on a question set."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from headway.cli._common import friendly_errors
from headway.errors import ConfigError, HeadwayError

app = typer.Typer(help="Retrieval: measure ranking quality.", no_args_is_help=True)

DATA = Path(__file__).resolve().parents[1] / "retrieval" / "data"
# The held-out test set by default: its figures are the honest ones (the tuning and
# development sets chose the defaults; pass --questions to measure them).
BUNDLED_QUESTIONS = DATA / "python_reference.test.jsonl"
BUNDLED_CORPUS = DATA / "python_reference"
MODES = ("lexical", "vector", "hybrid")


def _temporary_config(base: dict[str, Any], folder: Path, corpus: Path, embeddings: str) -> dict[str, Any]:
    return {
        **base,
        "store": f"sqlite:///{folder / 'eval.db'}",
        "auth": {"mode": "none"},
        "request_log": {"spill_dir": str(folder / "spill")},
        "pipelines": {
            "definitions": {
                "eval": {
                    "source": {"type": "folder", "path": str(corpus)},
                    "index": {"collection": "eval", "embeddings": embeddings},
                }
            },
            "scheduler": {"enabled": False},
        },
    }


async def _evaluate(
    raw: dict[str, Any],
    collection: str | None,
    questions_file: Path,
    k: int,
    modes: list[str],
    console: Console,
) -> list[Any]:
    from headway.config import parse_config
    from headway.pipelines import run_pipeline
    from headway.retrieval import evaluate, load_questions
    from headway.serving import Runtime

    questions = load_questions(questions_file)
    runtime = Runtime.from_config(parse_config(raw))
    try:
        await asyncio.to_thread(runtime.store.migrate)
        if runtime.retrieval is None or runtime.pipelines is None:
            raise HeadwayError("retrieval needs a SQL store")
        if collection is None:
            with console.status("indexing the corpus (chunking and embedding)…"):
                run = await run_pipeline(
                    "eval", runtime.pipelines.config.definitions["eval"], runtime.pipelines.deps
                )
            if run.status not in ("ok", "warn"):
                raise HeadwayError(f"indexing the corpus ended {run.status}: {run.error or run.checks}")
            console.print(
                f"indexed {run.counts.get('new', 0)} documents, {run.counts.get('chunks_added', 0)} chunks"
            )
            collection = "eval"
        with console.status("loading the embeddings model…"):
            await asyncio.to_thread(runtime.retrieval.warm)
        return [await evaluate(runtime.retrieval, collection, questions, k=k, mode=mode) for mode in modes]
    finally:
        for provider in runtime.providers.values():
            await provider.close()
        runtime.store.close()


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: not a mapping")
    return raw


@app.command("eval")
@friendly_errors
def eval_command(
    questions: Annotated[
        Path, typer.Option(help="Question set (JSON Lines: question, relevant doc keys).")
    ] = BUNDLED_QUESTIONS,
    corpus: Annotated[
        Path, typer.Option(help="Folder of documents to index into a temporary store.")
    ] = BUNDLED_CORPUS,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Config whose models (and store, with --collection) to use."),
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="Evaluate this existing collection of the config's store instead.")
    ] = None,
    embeddings: Annotated[
        str, typer.Option(help="Embeddings model for the temporary index.")
    ] = "local:all-minilm-l6-v2",
    k: Annotated[int, typer.Option(min=1, max=50, help="Documents considered per question.")] = 5,
    mode: Annotated[
        list[str] | None, typer.Option(help="Mode to measure; repeat (default: all three).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
) -> None:
    """Measure recall@k, MRR and nDCG@k per ranking mode (default: the bundled Python-reference set)."""
    modes = list(mode or MODES)
    for name in modes:
        if name not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not {name!r}")
    if collection is not None and config is None:
        raise ConfigError("--collection needs --config (the store that holds it)")
    base: dict[str, Any] = _read_yaml(config) if config is not None else {}
    console = Console()
    with tempfile.TemporaryDirectory(prefix="headway-eval-") as folder:
        raw = base if collection is not None else _temporary_config(base, Path(folder), corpus, embeddings)
        figures = asyncio.run(_evaluate(raw, collection, questions, k, modes, console))
    table = Table(title=f"{questions.name}: {figures[0].questions} questions, k = {k}")
    for column in ("mode", f"recall@{k}", "MRR", f"nDCG@{k}", "p50 ms", "answered by"):
        table.add_column(column)
    for row in figures:
        table.add_row(
            row.mode,
            f"{row.recall:.3f}",
            f"{row.mrr:.3f}",
            f"{row.ndcg:.3f}",
            f"{row.p50_ms:.1f}",
            ", ".join(f"{m} {n}" for m, n in row.served.items()),
        )
    console.print(table)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps([row.to_json() for row in figures], option=orjson.OPT_INDENT_2))
