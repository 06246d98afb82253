"""``s06``: one command for the pipeline's entry points.

::

    s06 demo [--start 2026-11-21] [--nights 3] [--dataset ...] [--no-generate] [--strict]
    s06 backfill --from 2026-11-01 --to 2026-11-20 [--dataset ...] [--facility ...]
    s06 consumer [--dataset birth_certificates] [--consumer ID] [--url URL]
    s06 summary --start 2026-11-21 [--nights 1] [--dataset ...]
    s06 republish --dataset ... [--month 2026-11 ...]

Options in brackets are optional, shown with their default where it is a fixed value (ID and URL
are placeholders); ``s06 <command> --help`` lists every option of a command.
Each command is also a module (``python -m cli.demo`` ...). Installed as a console script by
``make install`` (``[project.scripts]`` in ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import sys

#: command -> module with a ``main(argv) -> int``
COMMANDS = {
    "demo": "cli.demo",
    "backfill": "cli.backfill",
    "consumer": "cli.consumer",
    "summary": "cli.summary",
    "republish": "cli.republish",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``s06 <command> [args...]`` to the command's module."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print(__doc__.strip())
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[args[0]])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
