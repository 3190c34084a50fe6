"""The response cache: exact and semantic, scoped per caller or team, with stale-if-error. See ``README.md``."""

from headway.cache.stage import CacheStage, Lookup

__all__ = [
    "CacheStage",
    "Lookup",
]
