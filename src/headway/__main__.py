from headway.cli import run_cli

run_cli()
