"""Extract a title and plain text from a document file: Markdown, text, HTML, PDF.

Markdown keeps its headings (the chunker splits on them); HTML headings are turned into
Markdown ones for the same reason. PDF needs ``pypdf``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from headway.errors import HeadwayError

_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "li", "tr", "br", "pre", "blockquote", "table", "ul", "ol"}
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


class DocumentError(HeadwayError):
    """A document could not be read or decoded."""


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS and tag != "head":
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and tag != "head":
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif (len(tag) == 2 and tag[0] == "h" and tag[1].isdigit()) or tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(re.sub(r"[ \t\r\f\v]+", " ", data.replace("\n", " ")))


def html_to_text(html: str) -> tuple[str, str]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts))
    text = "\n".join(line.strip() for line in text.splitlines()).strip()
    return parser.title.strip(), text


def pdf_to_text(path: Path) -> tuple[str, str]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise DocumentError(f"{path}: reading PDF needs the package pypdf") from None
    try:
        reader = PdfReader(str(path))
        metadata = reader.metadata
        title = str(metadata.get("/Title") or "") if metadata is not None else ""
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many unrelated types for damaged files
        raise DocumentError(f"{path}: not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    return title, "\n\n".join(p.strip() for p in pages if p.strip())


def read_document(path: Path) -> tuple[str, str]:
    """``(title, text)``; the title falls back to the first heading, then the file name."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        title, text = pdf_to_text(path)
    else:
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raw = path.read_text(encoding="latin-1")
        except OSError as exc:
            raise DocumentError(f"{path}: cannot read ({exc})") from None
        if suffix in (".html", ".htm"):
            title, text = html_to_text(raw)
        else:
            title, text = "", raw.strip()
    if not title:
        heading = _MD_TITLE.search(text)
        title = heading.group(1).strip() if heading else path.stem.replace("_", " ").replace("-", " ")
    return title, text
