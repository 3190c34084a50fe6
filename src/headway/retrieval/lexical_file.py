"""The lexical index's file: a process starts from it instead of re-reading every chunk.

Rebuilding a collection's BM25 index from the store tokenises and stems every chunk again
(6–12 s at 100,000 chunks, ~1 min at 1,000,000); reading it back from this file skips that,
and ``LexicalStore`` then catches up from the file's version like after any publish.

Layout: an 8-byte little-endian header length, a JSON header (collection, version, counts,
the terms in order with each one's posting count, the chunks' documents), then the arrays
raw in the machine's byte order (named in the header; another order is refused): chunk ids
(int64), lengths (float32), alive flags (bytes), and each term's positions and counts
(int32). No pickle: nothing in the file is executed. Written to a temporary name and
renamed, so a reader sees a whole file or none; anything unreadable is reported as None
and the index is rebuilt from the store.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from array import array
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lexical.py imports this module: the class is looked up when a file is read
    from headway.retrieval.lexical import LexicalIndex

FORMAT = 1


def save(found: LexicalIndex, path: Path) -> None:
    """Write ``found``. Called by the refresh that alone changes the index (one per collection at
    a time), so it reads without the index's lock: searches, which only read, never wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    terms = list(found.postings)
    header = json.dumps(
        {
            "format": FORMAT,
            "byteorder": sys.byteorder,
            "collection": found.collection,
            "version": found.version,
            "chunks": len(found.chunk_ids),
            "total_length": found.total_length,
            "dead": found.dead,
            "terms": terms,
            "postings": [len(found.postings[term][0]) for term in terms],
            "doc_keys": found.doc_keys,
        },
        separators=(",", ":"),
    ).encode()
    with temporary.open("wb") as out:
        out.write(struct.pack("<Q", len(header)))
        out.write(header)
        found.chunk_ids.tofile(out)
        found.lengths.tofile(out)
        out.write(found.alive)
        for term in terms:
            positions, counts = found.postings[term]
            positions.tofile(out)
            counts.tofile(out)
    temporary.replace(path)


def load(path: Path, collection: str) -> LexicalIndex | None:
    """The index kept in ``path``, or None when there is none or it cannot be read whole."""
    from headway.retrieval.lexical import LexicalIndex  # already loaded: no import in a refresh thread

    try:
        with path.open("rb") as source:
            size = os.fstat(source.fileno()).st_size
            (length,) = struct.unpack("<Q", source.read(8))
            if length > size - 8:  # sizes are checked before anything is read by them
                return None
            header = json.loads(source.read(length))
            if (
                header.get("format") != FORMAT
                or header.get("byteorder") != sys.byteorder
                or header.get("collection") != collection
            ):
                return None
            chunks = int(header["chunks"])
            if 8 + length + chunks * 13 + sum(int(n) for n in header["postings"]) * 8 != size:
                return None  # cut short or with more than the header says
            found = LexicalIndex(collection, version=int(header["version"]))
            found.chunk_ids.fromfile(source, chunks)
            found.lengths.fromfile(source, chunks)
            found.alive = bytearray(source.read(chunks))
            doc_keys = [str(key) for key in header["doc_keys"]]
            if len(found.alive) != chunks or len(doc_keys) != chunks:
                return None
            for term, postings in zip(header["terms"], header["postings"], strict=True):
                positions, counts = array("i"), array("i")
                positions.fromfile(source, postings)
                counts.fromfile(source, postings)
                found.postings[term] = (positions, counts)
    except (OSError, EOFError, ValueError, KeyError, TypeError, struct.error):
        return None
    found.doc_keys = doc_keys
    found.total_length = float(header["total_length"])
    found.dead = int(header["dead"])
    found.positions = {int(chunk_id): position for position, chunk_id in enumerate(found.chunk_ids)}
    for position, key in enumerate(doc_keys):
        if found.alive[position]:
            found.doc_sizes[key] = found.doc_sizes.get(key, 0) + 1
    return found
