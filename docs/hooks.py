"""MkDocs hooks: the command reference generated from the CLI's own parsers, and the files the
experiments write (plots, tables, JSON) served beside the pages that cite them."""

from __future__ import annotations

import argparse
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- bpe-cli-reference -->"
SERVED = (".png", ".json", ".txt", ".csv", ".md")


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "bpe"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, f"{prefix} {name}")


def cli_reference() -> str:
    """Every subcommand's ``--help``, as argparse prints it."""
    from bpe.cli import build_parser

    parts = []
    for words, parser in _subcommands(build_parser()):
        if words == "bpe":
            continue
        parser.prog = words
        parts.append(f"## `{words}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown


def on_files(files, config):
    """Serve ``experiments/**`` outputs at ``experiments/...`` so the results pages can link them."""
    for path in sorted((ROOT / "experiments").rglob("*")):
        if set(path.relative_to(ROOT).parts) & {"node_modules", "__pycache__"}:
            continue  # a script's installed packages (experiments/dashboard), not results
        if path.is_file() and path.suffix in SERVED:
            rel = path.relative_to(ROOT).as_posix()
            files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files
