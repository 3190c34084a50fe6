"""Retrieval tests share the pipeline fixtures, and a migrated store on the suite's backend."""



from tests.pipelines.conftest import data_plane, webhook

__all__ = ["data_plane", "webhook"]
