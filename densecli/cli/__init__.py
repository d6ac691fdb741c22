"""The command line (Typer): options in `_app`, one plain function per command in `_commands`.
Nothing inside densecli imports this package.

`main` is the program. It makes SIGINT and SIGTERM stops before it imports the app (Typer,
rich and densecli's modules take most of a second), so a stop at any instant ends with its
line and exit code; `app` is imported on first use, for tests and the documentation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from densecli.cli._main import main

if TYPE_CHECKING:
    from densecli.cli._app import app


def __getattr__(name: str) -> Any:
    if name == "app":
        from densecli.cli._app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]
