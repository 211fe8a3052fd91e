"""``picluster access``: who can do what, from the spec alone (compiler.access.report)."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_support import SPEC, print_warnings, say


@click.command()
@SPEC
@click.option(
    "--output",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
    help="text for people, json for machines, mermaid for a graph GitHub renders.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when anything is flagged.")
def access(spec: Path, output: str, strict: bool) -> None:
    """For every service account SPEC's roles bind: its role, policies, and capabilities on
    each path its consumers read and on sys/metrics; then roles nobody uses and grants
    broader than any consumer needs."""
    from .access import report
    from .check import load
    from .errors import CheckError

    loaded = load(spec)
    print_warnings(loaded.warnings)
    found = report.build(loaded.model)
    if output == "json":
        say(report.as_json(found), nl=False)
    else:
        lines = report.as_text(found) if output == "text" else report.as_mermaid(found)
        say("\n".join(lines))
    if strict and found.flags:
        raise CheckError(f"{spec}: {report.flagged_summary(found)}")
