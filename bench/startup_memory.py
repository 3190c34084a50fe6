"""Resident memory of what ``headway serve`` imports, and which heavy libraries come with it.

    .venv/bin/python bench/startup_memory.py
    PYTHONPATH=<other tree>/src .venv/bin/python bench/startup_memory.py   # compare two trees

Imports what a serving process imports before it reads its config (the CLI's serve module,
the API and the serving part), then prints the process's peak RSS, the module count, and
which of the libraries that only some configurations need are loaded (numpy and faiss for
retrieval and the semantic cache, redis for shared state, PyJWT for OIDC and Vertex,
psycopg for PostgreSQL, torch for local embeddings). Each is loaded lazily where it is
used; this script is how a regression shows. For the per-import cost: ``python -X
importtime -c "import headway.cli.serve"``.
"""

from __future__ import annotations

import json
import resource
import sys
import time

OPTIONAL = ("numpy", "faiss", "redis", "jwt", "psycopg", "cryptography", "torch", "sentence_transformers")


def main() -> None:
    started = time.perf_counter()
    import headway.api
    import headway.cli.serve
    import headway.serving

    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "tree": headway.__file__.rsplit("/headway/", 1)[0],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "modules": len(sys.modules),
                "import_s": round(seconds, 2),
                "optional_loaded": [name for name in OPTIONAL if name in sys.modules],
            }
        )
    )


if __name__ == "__main__":
    main()
