"""Headway: the production layer for AI applications.

The public face is small on purpose: configuration loading, the ASGI app factory and
the exception hierarchy. Everything else lives in the part folders and is private to
them unless re-exported here.
"""

from headway.errors import APIError, ConfigError, HeadwayError, UpstreamError

__version__ = "0.1.0"

__all__ = ["APIError", "ConfigError", "HeadwayError", "UpstreamError", "__version__"]
