"""Asynchronous work: background requests, the Batch API, files and the worker. See ``README.md``."""
