"""The ``headway`` command: one typer app (``main.main``) and one small module per command group. See ``README.md``."""
