"""Command-line interface (typer + rich). Entry point: ``loi.cli.main:main``."""
