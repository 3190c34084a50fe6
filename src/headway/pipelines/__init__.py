"""Monitored data pipelines: sources held to a data contract, quality checks, runs, the scheduler, profiling, publishing into retrieval. See ``README.md``."""
