"""Compare a rerun's results table with the stored one, number by number.

    python experiments/compare_tables.py experiments/mip/nb201_sh_heldout_seed1.md /tmp/rerun/seed1.md
    python experiments/compare_tables.py OLD.json NEW.json [--tol 0.0005]
    python experiments/compare_tables.py docs/results-search.md rerun.log --list
    python experiments/compare_tables.py docs/results-search.md rerun.log --stored-table 4 --table 0
        --stored-rows '^(random|REA|REINFORCE) [(]' --rows position --numbers-only --round-to-stored

Markdown: every pipe table of each file (``| a | b |`` with a ``|---|`` separator line) is compared
with the table at the same position in the other file (``--table N`` / ``--stored-table M`` pick
one of each; ``--list`` shows them).  Rows are matched by their first cell (emphasis and code marks
stripped; repeated keys in order), or in order (``--rows position``, after ``--stored-rows`` /
``--rerun-rows`` keep the rows whose first cell matches a regex); columns by header, or by
position when the two tables have as many columns and some headers differ.  A cell may hold
several numbers (``0.963 [0.94, 0.98]``, ``94.22 ± 0.23``, ``+0.056 [+0.028, +0.096] / +0.039
[...]``, ``1,877,559``, ``−0.590``): each is compared with the one at the same place in the other
cell; a cell whose words (the text without its numbers) differ, or whose count of numbers
differs, is a text difference (``--numbers-only``: the words of hand-edited labels are not
compared).  ``--round-to-stored`` rounds each rerun number to the decimals the stored one was
printed with (a docs table that rounds 0.5494 to 0.549 is not a difference).

JSON: both files are flattened to their leaves (``a.b[3].c``); a "column" is a leaf's path with
its list indices replaced by ``*``; strings and booleans must be equal; leaves that record where
and when a file was written (provenance, dates, commits, file lists, workers) are skipped
(``--ignore``).

Columns (or JSON keys) of measured time (s/arch, seconds, CPU-s, wall, fit s, ...) depend on the
machine's load: they are listed as "time, not compared" and never count as a difference (their
largest difference is still shown).  Prints one line per column: the count of numbers compared,
the largest absolute difference and where.  Exit status 0 when every compared number is within
``--tol`` (default 0: identical as printed), no text differs and no row (or JSON leaf) is
missing from either side; 1 otherwise; 2 on a usage error or a missing table.  Standard library
only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Header (or JSON key) words that mark a column of measured time.
TIME_PATTERN = (r"\bs/arch|\bs/cell|\bs/run|(?<!simulated_)seconds|\bsecs?\b|cpu[- _]?s\b|cpu_s|\bwall|\bfit s\b|predict .* s\b"
                r"|cost per cell|elapsed|duration|\btime|_s$|(^|[ _])s$|throughput")

#: JSON leaves that record where and when a file was written, not what it found.
DEFAULT_IGNORE = r"(^|\.)(provenance|files|worker|date|machine|git_commit|commit|code_version|truth_source)(\.|\[|$)"

_NUMBER = re.compile(
    r"(?<![\w.])[+\-−]?"             # a sign only at the start of a token (not the hyphen of 1,261-2,363)
    r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"  # 1,877,559 or 1877559
    r"(?:\.\d+)?(?:[eE][+\-]?\d+)?"
    r"|(?<=[\w.])(?:\d+(?:\.\d+)?)"  # digits inside a token (C4, 12px, 1.4e-6 handled above)
)


def numbers(text: str) -> tuple[list[float], str]:
    """The numbers in ``text`` (Unicode minus and thousands separators understood) and the text
    left when each is replaced by ``#`` (compared as words)."""
    values, words = numbers_with_decimals(text)
    return [v for v, _ in values], words


def numbers_with_decimals(text: str) -> tuple[list[tuple[float, int]], str]:
    """Like :func:`numbers`, each number with the count of decimals it was printed with."""
    found: list[tuple[float, int]] = []

    def take(match: re.Match[str]) -> str:
        token = match.group(0).replace("−", "-").replace(",", "")
        try:
            value = float(token)
        except ValueError:
            return match.group(0)
        mantissa = token.lower().split("e")[0]
        found.append((value, len(mantissa.split(".")[1]) if "." in mantissa else 0))
        return "#"

    words = _NUMBER.sub(take, text)
    return found, normalise_words(words)


def normalise_words(text: str) -> str:
    """Text without emphasis, code marks and repeated blanks (formatting a rerun may not reproduce)."""
    text = text.replace("**", "").replace("`", "").replace("\\|", "|")
    return " ".join(text.split())


@dataclass
class Table:
    """One Markdown pipe table: its header cells and its rows of cells."""

    header: list[str]
    rows: list[list[str]]
    line: int  # 1-based line of the header in its file


def split_row(line: str) -> list[str]:
    """The cells of one ``| a | b |`` line (escaped pipes ``\\|`` and pipes inside backticks kept)."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells, current, in_code, i = [], [], False, 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            current.append("\\|")
            i += 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    cells.append("".join(current).strip())
    return cells


def markdown_tables(text: str) -> list[Table]:
    """Every pipe table in a Markdown text, in order."""
    lines = text.splitlines()
    tables: list[Table] = []
    i = 0
    separator = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
    while i + 1 < len(lines):
        if lines[i].lstrip().startswith("|") and separator.match(lines[i + 1]):
            header = split_row(lines[i])
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                rows.append(split_row(lines[j]))
                j += 1
            tables.append(Table(header, rows, i + 1))
            i = j
        else:
            i += 1
    return tables


@dataclass
class ColumnResult:
    """What one column's comparison found."""

    name: str
    is_time: bool
    compared: int = 0
    max_diff: float = 0.0
    where: str = ""
    text_diffs: list[str] = field(default_factory=list)

    def add(self, a: float, b: float, where: str) -> None:
        """Count one pair of numbers; keep the largest difference and where it was."""
        self.compared += 1
        if math.isnan(a) or math.isnan(b):
            diff = 0.0 if math.isnan(a) and math.isnan(b) else math.inf
        else:
            diff = abs(a - b)
        if diff > self.max_diff:
            self.max_diff, self.where = diff, where

    def verdict(self, tol: float) -> str:
        """``identical``, ``within tol``, ``DIFFERS`` or ``time, not compared``."""
        if self.is_time:
            return "time, not compared"
        if self.text_diffs:
            return "TEXT DIFFERS"
        if self.max_diff == 0:
            return "identical"
        return f"within {tol:g}" if self.max_diff <= tol else "DIFFERS"


def is_time_column(name: str, pattern: re.Pattern[str]) -> bool:
    """Whether a header or JSON key names measured time."""
    return bool(pattern.search(name.lower()))


def row_keys(table: Table) -> list[str]:
    """Each row's key: its first cell's words, with ``#2``, ``#3`` for repeats."""
    seen: dict[str, int] = {}
    keys = []
    for row in table.rows:
        key = normalise_words(row[0]) if row else ""
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key} #{seen[key]}")
    return keys


def compare_markdown(old: Table, new: Table, pattern: re.Pattern[str], *, by_position: bool = False,
                     numbers_only: bool = False, round_to_stored: bool = False,
                     ) -> tuple[list[ColumnResult], list[str]]:
    """Column results for two tables of the same layout, and the layout problems found.

    Columns are matched by header (by position when no header matches but the counts agree), rows by
    their first cell, or by position (``by_position``: a hand-written table whose row labels differ
    from the script's).  ``numbers_only``: a cell's words may differ, its numbers are still compared
    in order."""
    problems: list[str] = []
    old_header = [normalise_words(h) for h in old.header]
    new_header = [normalise_words(h) for h in new.header]
    column_map: dict[int, int] = {c: new_header.index(h) for c, h in enumerate(old_header) if h in new_header}
    if len(column_map) < len(old_header) and len(old_header) == len(new_header):
        column_map = {c: c for c in range(len(old_header))}
        renamed = [f"{a!r}~{b!r}" for a, b in zip(old_header, new_header) if a != b]
        problems.append(f"headers differ, columns matched by position: {', '.join(renamed)}")
    elif len(column_map) < max(len(old_header), len(new_header)):
        only_old = [h for h in old_header if h not in new_header]
        only_new = [h for h in new_header if h not in old_header]
        problems.append(f"columns only in the stored table: {only_old}; only in the rerun: {only_new}")
    columns = {c: ColumnResult(old_header[c] or f"column {c + 1}", is_time_column(old_header[c], pattern))
               for c in column_map}
    old_keys, new_keys = row_keys(old), row_keys(new)
    if by_position:
        if len(old.rows) != len(new.rows):
            problems.append(f"MISSING ROWS: {len(old.rows)} rows stored, {len(new.rows)} in the rerun: "
                            f"the first {min(len(old.rows), len(new.rows))} compared by position")
        row_pairs = [(r, r, old_keys[r]) for r in range(min(len(old.rows), len(new.rows)))]
    else:
        new_index = {key: r for r, key in enumerate(new_keys)}
        missing = [k for k in old_keys if k not in new_index]
        extra = [k for k in new_keys if k not in set(old_keys)]
        if missing or extra:
            problems.append(f"MISSING ROWS: only in the stored table: {missing}; only in the rerun: {extra} "
                            "(--rows position matches them in order)")
        row_pairs = [(r, new_index[key], key) for r, key in enumerate(old_keys) if key in new_index]
    for r_old, r_new, key in row_pairs:
        old_row, new_row = old.rows[r_old], new.rows[r_new]
        for c, column in columns.items():
            old_cell = old_row[c] if c < len(old_row) else ""
            new_cell = new_row[column_map[c]] if column_map[c] < len(new_row) else ""
            compare_cells(column, old_cell, new_cell, key, numbers_only, round_to_stored)
    return list(columns.values()), problems


def select_rows(table: Table, regex: str | None) -> Table:
    """The table with only the rows whose first cell matches ``regex`` (all rows when None)."""
    if regex is None:
        return table
    pattern = re.compile(regex)
    return Table(table.header, [row for row in table.rows if row and pattern.search(row[0])], table.line)


def compare_cells(column: ColumnResult, old_cell: str, new_cell: str, where: str,
                  numbers_only: bool = False, round_to_stored: bool = False) -> None:
    """Compare the numbers of two cells place by place, and (unless ``numbers_only``) their words.

    ``round_to_stored``: each rerun number is first rounded to the decimals the stored one was
    printed with (a hand-written table that rounds 0.5494 to 0.549 is not a difference)."""
    old_numbers, old_words = numbers_with_decimals(old_cell)
    new_numbers, new_words = numbers_with_decimals(new_cell)
    if (old_words != new_words and not numbers_only) or len(old_numbers) != len(new_numbers):
        column.text_diffs.append(f"{where}: {old_cell!r} vs {new_cell!r}")
    for (a, decimals), (b, _) in zip(old_numbers, new_numbers):
        column.add(a, round(b, decimals) if round_to_stored else b, where)


def flatten(value: object, path: str = "") -> Iterator[tuple[str, object]]:
    """The leaves of a JSON value as (path, leaf) pairs."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from flatten(item, f"{path}[{i}]")
    else:
        yield path, value


def compare_json(old: object, new: object, pattern: re.Pattern[str],
                 ignore: re.Pattern[str] | None) -> tuple[list[ColumnResult], list[str]]:
    """Column results (one per leaf path with ``*`` for list indices) for two JSON values."""
    old_leaves, new_leaves = dict(flatten(old)), dict(flatten(new))
    problems = []
    kept = [p for p in old_leaves if not (ignore and ignore.search(p))]
    only_old = [p for p in kept if p not in new_leaves]
    only_new = [p for p in new_leaves if p not in old_leaves and not (ignore and ignore.search(p))]
    if only_old or only_new:
        problems.append(f"{len(only_old)} leaves only in the stored file (e.g. {only_old[:3]}), "
                        f"{len(only_new)} only in the rerun (e.g. {only_new[:3]})")
    columns: dict[str, ColumnResult] = {}
    for path in kept:
        if path not in new_leaves:
            continue
        name = re.sub(r"\[\d+\]", "[*]", path)
        leaf_name = re.split(r"[.\[]", name)[-1] if name else name
        column = columns.setdefault(name, ColumnResult(name, is_time_column(leaf_name, pattern)))
        a, b = old_leaves[path], new_leaves[path]
        if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) \
                or not isinstance(b, (int, float)):
            if a != b:
                column.text_diffs.append(f"{path}: {a!r} vs {b!r}")
            continue
        column.add(float(a), float(b), path)
    return list(columns.values()), problems


def report(columns: list[ColumnResult], tol: float, title: str, show_text: int) -> bool:
    """Print one line per column; True when every compared column is within ``tol``."""
    print(f"## {title}")
    print("| column | numbers | largest abs. difference | where | verdict |")
    print("|---|---|---|---|---|")
    ok = True
    for column in columns:
        if column.compared == 0 and not column.text_diffs:
            continue
        verdict = column.verdict(tol)
        ok &= verdict in ("identical", "time, not compared") or verdict.startswith("within")
        print(f"| {column.name} | {column.compared} | {column.max_diff:.6g} | {column.where} | {verdict} |")
        for line in column.text_diffs[:show_text] if not column.is_time else []:
            print(f"    text: {line}")
    comparable = [c for c in columns if not c.is_time and c.compared]
    if comparable:
        worst = max(comparable, key=lambda c: c.max_diff)
        print(f"largest difference over compared columns: {worst.max_diff:.6g} "
              f"({worst.name}, {worst.where or '-'})")
    timed = [c.name for c in columns if c.is_time and c.compared]
    if timed:
        print(f"measured-time columns, not compared (machine load): {', '.join(timed)}")
    print()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stored", type=Path, help="the stored table (Markdown or JSON)")
    parser.add_argument("rerun", type=Path, help="the rerun's table, same layout")
    parser.add_argument("--tol", type=float, default=0.0, help="largest difference still counted as equal")
    parser.add_argument("--table", type=int, default=None,
                        help="compare only the N-th table (0-based) of each Markdown file")
    parser.add_argument("--stored-table", type=int, default=None,
                        help="the stored file's table to compare with --table's (default: the same index)")
    parser.add_argument("--time-columns", default=TIME_PATTERN,
                        help="regex (on lower-cased headers / JSON keys) of measured-time columns")
    parser.add_argument("--rows", choices=("key", "position"), default="key",
                        help="match rows by their first cell (default) or in order")
    parser.add_argument("--numbers-only", action="store_true",
                        help="Markdown: compare the numbers of each cell, not its words (hand-edited labels)")
    parser.add_argument("--stored-rows", default=None,
                        help="Markdown: keep only the stored rows whose first cell matches this regex")
    parser.add_argument("--rerun-rows", default=None,
                        help="Markdown: keep only the rerun's rows whose first cell matches this regex")
    parser.add_argument("--ignore", default=DEFAULT_IGNORE,
                        help="JSON: regex of leaf paths to skip (default: provenance, dates, file lists, "
                             "workers; '' compares every leaf)")
    parser.add_argument("--round-to-stored", action="store_true",
                        help="Markdown: round each rerun number to the decimals of the stored one first")
    parser.add_argument("--list", action="store_true", help="list each file's tables (index, line, header) and stop")
    parser.add_argument("--show-text", type=int, default=5, help="text differences shown per column")
    args = parser.parse_args(argv)
    pattern = re.compile(args.time_columns)
    try:
        if args.stored.suffix == ".json" or args.rerun.suffix == ".json":
            old, new = (json.loads(p.read_text()) for p in (args.stored, args.rerun))
            columns, problems = compare_json(old, new, pattern, re.compile(args.ignore) if args.ignore else None)
            for problem in problems:
                print(f"layout: {problem}")
            return 0 if report(columns, args.tol, f"{args.stored} vs {args.rerun}", args.show_text) \
                and not problems else 1
        old_tables = markdown_tables(args.stored.read_text())
        new_tables = markdown_tables(args.rerun.read_text())
    except (OSError, ValueError) as err:
        print(f"compare_tables: error: {err}", file=sys.stderr)
        return 2
    if args.list:
        for path, tables in ((args.stored, old_tables), (args.rerun, new_tables)):
            for i, table in enumerate(tables):
                print(f"{path} table {i} (line {table.line}, {len(table.rows)} rows): {' | '.join(table.header)}")
        return 0
    if args.table is not None:
        stored_index = args.table if args.stored_table is None else args.stored_table
        if stored_index >= len(old_tables) or args.table >= len(new_tables):
            print(f"compare_tables: error: no table {args.table} ({len(old_tables)} stored, "
                  f"{len(new_tables)} rerun)", file=sys.stderr)
            return 2
        pairs = [(old_tables[stored_index], new_tables[args.table])]
    else:
        if len(old_tables) != len(new_tables):
            print(f"layout: {len(old_tables)} tables stored, {len(new_tables)} in the rerun; "
                  f"comparing the first {min(len(old_tables), len(new_tables))}")
        pairs = list(zip(old_tables, new_tables))
    if not pairs:
        print("compare_tables: error: no Markdown table found", file=sys.stderr)
        return 2
    ok = True
    for old_table, new_table in pairs:
        old_table = select_rows(old_table, args.stored_rows)
        new_table = select_rows(new_table, args.rerun_rows)
        columns, problems = compare_markdown(old_table, new_table, pattern, by_position=args.rows == "position",
                                             numbers_only=args.numbers_only, round_to_stored=args.round_to_stored)
        for problem in problems:
            print(f"layout: {problem}")
        ok &= not any(problem.startswith("MISSING ROWS") for problem in problems)
        ok &= report(columns, args.tol, f"table at line {old_table.line} (stored) vs line {new_table.line} (rerun)",
                     args.show_text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
