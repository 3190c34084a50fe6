"""The local files behind the write-behind writer: crash segments and the spill journal.

One folder, two kinds of file, both one encoded item per line:

- ``<name>-<id>.wal`` — a *crash segment*. A crash-safe writer appends every item here
  (one ``write()`` to an ``O_APPEND`` file, no fsync) before handing it over, so a
  SIGKILL loses nothing: the data is in the OS page cache. A segment is fsynced when it
  is rotated out (at most once per flush interval) and deleted once its items reached the store or
  the spill journal. Its owner holds an exclusive ``flock`` on it for its whole life.
- ``<name>-<id>.jsonl`` — the *spill journal*: batches the store would not take,
  fsynced on every append and replayed, idempotently, when the store answers again.

Ownership is decided by ``flock`` (released by the kernel when a process dies, whatever
its PID becomes), and a file is claimed by renaming it while holding that lock, so two
processes never replay the same file and a dead process's files are always recovered:
its segments become spill journal, its half-replayed files go back to the pool.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("headway.journal")

SEGMENT = ".wal"
SPILL = ".jsonl"
CLAIMED = ".replaying"
CREATING = ".wal-new"


def _locked(path: Path, *, wait: bool) -> int | None:
    """Open ``path`` and take its exclusive lock; ``None`` if it is gone or (``wait=False``) held."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        # The file may have been renamed (claimed) between open() and the lock: then it is not ``path``.
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0


@dataclass(slots=True)
class Segment:
    """A live crash segment: the open descriptor (holding the lock) and how many items it holds."""

    path: Path
    fd: int
    items: int = 0
    torn: bool = False  # the last append failed part-way
    opened: float = field(default_factory=time.monotonic)
    # Some of its items reached neither the store nor the spill journal: keep the file for recovery.
    unsettled: bool = False


@dataclass(slots=True)
class Claim:
    """A spill-journal file claimed for replay: read ``lines()``, then ``done()`` or ``release()``."""

    path: Path  # the claimed (renamed) file
    home: Path  # where it goes back to if the replay cannot finish
    fd: int
    settled: bool = False

    def lines(self) -> list[bytes]:
        with open(self.path, "rb") as handle:
            return [line for line in handle.read().splitlines() if line.strip()]

    def done(self) -> None:
        self.settled = True
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)

    def release(self) -> None:
        self.settled = True
        try:
            os.rename(self.path, self.home)
        finally:
            os.close(self.fd)


class Journal:
    """The journal folder of one writer (``name`` prefixes its files); methods do blocking I/O."""

    def __init__(self, directory: str | Path, name: str) -> None:
        self.directory = Path(directory)
        self.name = name
        self._spill_path = self._fresh(SPILL)

    def _fresh(self, suffix: str) -> Path:
        return self.directory / f"{self.name}-{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}"

    def _files(self, suffix: str) -> list[Path]:
        if not self.directory.exists():
            return []
        return sorted(self.directory.glob(f"{self.name}-*{suffix}"))

    # -- crash segments (the hot path writes to the open descriptor) ---------------------
    def open_segment(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Created under a name recovery ignores, locked, then moved into place: recovery
        # never sees a segment whose owner has not locked it yet.
        creating = self._fresh(CREATING)
        fd = os.open(creating, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = creating.with_suffix(SEGMENT)
        os.rename(creating, path)
        return Segment(path, fd)

    @staticmethod
    def append(segment: Segment, data: bytes) -> None:
        """One ``write()`` (normally): durable against a process crash as soon as it returns."""
        if segment.torn:  # a failed append left part of a line: end it, so the next line reads whole
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(segment.fd, view) :]
        except OSError:
            segment.torn = len(view) != len(data) or segment.torn
            raise
        segment.torn = False
        segment.items += 1

    def sync(self, segment: Segment) -> None:
        """Make the segment survive a machine crash: its bytes, and its name in the folder."""
        if segment.items:
            os.fsync(segment.fd)
            self._sync_folder()

    def _sync_folder(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def retire(segment: Segment) -> None:
        """Every item of the segment is in the store or the spill journal: delete it."""
        segment.path.unlink(missing_ok=True)
        os.close(segment.fd)

    @staticmethod
    def abandon(segment: Segment) -> None:
        """Keep the file for recovery (its items may be nowhere else) and let go of it."""
        os.close(segment.fd)

    # -- spill journal --------------------------------------------------------------------
    def spill(self, data: bytes) -> None:
        """Append and fsync; safe against a replay claiming the same file meanwhile."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self._spill_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self._spill_path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # claimed while we waited: write to a new file under the same name
                    continue
                created = os.fstat(fd).st_size == 0
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                if created:  # a new file's name must survive a machine crash too
                    self._sync_folder()
                return
            finally:
                os.close(fd)

    def recover(self) -> int:
        """Hand dead writers' files back to the pool; returns how many items that recovered.

        A segment nobody holds becomes spill journal (its items may never have reached the
        store; the replay is idempotent), a claimed file nobody holds goes back to the pool,
        and a segment that died before it was named is removed (it never held an item).
        """
        recovered = 0
        for path in self._files(CLAIMED + "-*"):  # claimed by an older release (owner PID suffix)
            owner = path.name.rsplit("-", 1)[-1]
            if owner.isdigit() and not _alive(int(owner)):
                with contextlib.suppress(FileNotFoundError):
                    os.rename(path, path.with_name(path.name.rsplit(CLAIMED, 1)[0] + SPILL))
        for path in self._files(CREATING):
            fd = _locked(path, wait=False)
            if fd is not None:
                path.unlink(missing_ok=True)
                os.close(fd)
        for suffix in (SEGMENT, CLAIMED):
            for path in self._files(suffix):
                fd = _locked(path, wait=False)
                if fd is None:
                    continue  # alive: its owner holds it
                try:
                    os.fsync(fd)
                    items = _count_lines(path)
                    if items:
                        os.rename(path, path.with_suffix(SPILL))
                        recovered += items if suffix == SEGMENT else 0
                        log.warning("recovered %d %s item(s) from %s", items, self.name, path.name)
                    else:
                        path.unlink(missing_ok=True)
                finally:
                    os.close(fd)
        return recovered

    def pending(self) -> int:
        """Items waiting in the spill journal (every process's)."""
        return sum(_count_lines(path) for path in self._files(SPILL))

    def claims(self) -> Iterator[Claim]:
        """Each spill file nobody else is replaying, claimed by renaming it under its lock."""
        for path in self._files(SPILL):
            fd = _locked(path, wait=False)
            if fd is None:
                continue
            claimed = path.with_suffix(CLAIMED)
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                os.close(fd)
                continue
            claim = Claim(claimed, path, fd)
            try:
                yield claim
            finally:
                if not claim.settled:  # the consumer stopped or failed: the file goes back to the pool
                    claim.release()
