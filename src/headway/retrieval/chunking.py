"""Split a document into chunks by structure first (headings, paragraphs), then by size.

Each chunk keeps the heading path it sits under as its title ("Guide › Install › Linux")
so a passage read alone still says what it is about. Consecutive chunks of one section
overlap by about ``overlap_chars`` (cut at a word boundary) so a sentence split across
a boundary is whole in at least one chunk. Pure functions; no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    title: str
    text: str

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.text)

    @property
    def embedding_input(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


def content_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def sections(text: str) -> list[tuple[list[str], str]]:
    """``(heading path, body)`` pairs; Markdown ATX headings open sections."""
    result: list[tuple[list[str], str]] = []
    path: list[str] = []
    body: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        if "".join(body).strip():
            result.append((list(path), "\n".join(body).strip()))
        body = []
        level = len(match.group(1))
        path = [*path[: level - 1], match.group(2).strip()]
    if "".join(body).strip():
        result.append((list(path), "\n".join(body).strip()))
    return result


def _pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph longer than ``limit`` split at sentence ends, then at spaces."""
    if len(paragraph) <= limit:
        return [paragraph]
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            head, sentence = sentence[:cut].rstrip(), sentence[cut:].lstrip()
            if current:
                out.append(current)
                current = ""
            out.append(head)
        if current and len(current) + 1 + len(sentence) > limit:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        out.append(current)
    return out


def _tail(text: str, size: int) -> str:
    if size <= 0 or len(text) <= size:
        return "" if size <= 0 else text
    start = text.find(" ", len(text) - size)
    return text[start + 1 :] if start != -1 else text[-size:]


def chunk_text(title: str, text: str, *, chunk_chars: int, overlap_chars: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for path, body in sections(text) or [([], "")]:
        if path and title and path[0].strip().lower() == title.strip().lower():
            path = path[1:]  # the document's own title heading
        heading = " › ".join(p for p in [title, *path] if p)
        paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(body) if p.strip()]
        budget = max(1, chunk_chars - overlap_chars)
        pieces = [piece for paragraph in paragraphs for piece in _pieces(paragraph, budget)]
        current = ""
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > chunk_chars:
                chunks.append(Chunk(len(chunks), heading, current))
                overlap = _tail(current, overlap_chars)
                current = f"{overlap} {piece}" if overlap else piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
        if current:
            chunks.append(Chunk(len(chunks), heading, current))
    if not chunks and title:
        chunks.append(Chunk(0, title, title))
    return chunks
