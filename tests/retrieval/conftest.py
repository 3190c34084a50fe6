"""Retrieval tests share the pipeline fixtures."""

from tests.pipelines.conftest import data_plane, webhook

__all__ = ["data_plane", "webhook"]
