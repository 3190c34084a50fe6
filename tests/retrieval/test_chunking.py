"""Chunking follows headings and paragraphs first, then size, with overlap between neighbours."""

from __future__ import annotations

import itertools

from headway.retrieval.chunking import chunk_text, sections


def test_sections_follow_markdown_headings_but_not_code_fences() -> None:
    text = (
        "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n```\n# not a heading\n```\n\n### Linux\n\napt install"
    )
    found = sections(text)
    assert [path for path, _ in found] == [["Guide"], ["Guide", "Install"], ["Guide", "Install", "Linux"]]
    assert "# not a heading" in found[1][1]


def test_chunks_carry_their_heading_path_and_never_cross_sections() -> None:
    text = "# Guide\n\nIntro paragraph.\n\n## Install\n\nRun the installer."
    chunks = chunk_text("Guide", text, chunk_chars=500, overlap_chars=50)
    assert [(c.title, c.text) for c in chunks] == [
        ("Guide", "Intro paragraph."),
        ("Guide › Install", "Run the installer."),
    ]


def test_long_sections_split_by_size_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(60)]
    chunks = chunk_text("Doc", " ".join(sentences), chunk_chars=300, overlap_chars=60)
    assert len(chunks) > 5
    assert all(len(c.text) <= 300 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        # The start of each chunk repeats the end of the one before it.
        assert current.text[:20] in previous.text
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_identical_text_gets_identical_hashes() -> None:
    a = chunk_text("T", "same words", chunk_chars=100, overlap_chars=10)[0]
    b = chunk_text("T", "same words", chunk_chars=100, overlap_chars=10)[0]
    c = chunk_text("U", "same words", chunk_chars=100, overlap_chars=10)[0]
    assert a.content_hash == b.content_hash != c.content_hash
