"""``python -m compiler``: the same as the ``picluster`` command."""

from __future__ import annotations

from compiler.cli import main

main()
