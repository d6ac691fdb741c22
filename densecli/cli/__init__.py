"""The command line (Typer): options in `_app`, one plain function per command in `_commands`.
Nothing inside densecli imports this package."""

from densecli.cli._app import app, main

__all__ = ["app", "main"]
