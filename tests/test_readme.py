"""The README points only at files that are in the repository (its links, and every repository
path it names in backticks), and its commands name only commands picluster has."""

from __future__ import annotations

import re

from tests.support import ROOT

README = (ROOT / "README.md").read_text()
TOP = (
    "compiler/",
    "tests/",
    "bench/",
    "schemas/",
    "templates/",
    "examples/",
    "pki/",
    ".ci/",
    "out/",
)


def named_paths() -> set[str]:
    links = set(re.findall(r"\]\(([^)#\s]+)\)", README))
    quoted = set(re.findall(r"`([^`\s]+)`", README))
    named = {q.rstrip("/") for q in quoted if q.startswith(TOP)}
    named |= set(re.findall(r"[\w./-]+\.md\b", README))  # a document, named bare or quoted
    named |= {link for link in links if "://" not in link}
    return {p for p in named if not re.search(r"[<>{}*]", p)}  # placeholders: hosts/<node>/


def test_every_file_the_readme_names_exists() -> None:
    missing = sorted(p for p in named_paths() if not (ROOT / p).exists())
    assert missing == []


def test_the_check_can_fail() -> None:
    """It does look at what the README says: names it is known to contain are among them."""
    assert {"tests/test_notes.py", "schemas/k8s/values-keys", "out/manifest.json"} <= named_paths()
