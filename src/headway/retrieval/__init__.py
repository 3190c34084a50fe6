"""Collections and queries over them: chunking, embedders, the versioned index, hybrid ranking and retrieval-augmented chat. See ``README.md``."""

from headway.retrieval.chunking import chunk_text
from headway.retrieval.embedder import LOCAL_PREFIX, Embedder, build_embedder, to_blob
from headway.retrieval.evaluation import evaluate, load_questions
from headway.retrieval.index import abandon as abandon_index_version
from headway.retrieval.index import add_chunks, retire_documents, reusable_embeddings
from headway.retrieval.index import begin as begin_index_version
from headway.retrieval.index import publish as publish_index_version
from headway.retrieval.rag import HEADER, augment
from headway.retrieval.service import Retriever

__all__ = [
    "HEADER",
    "LOCAL_PREFIX",
    "Embedder",
    "Retriever",
    "abandon_index_version",
    "add_chunks",
    "augment",
    "begin_index_version",
    "build_embedder",
    "chunk_text",
    "evaluate",
    "load_questions",
    "publish_index_version",
    "retire_documents",
    "reusable_embeddings",
    "to_blob",
]
