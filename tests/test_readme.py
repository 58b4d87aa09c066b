"""The README's results table quotes only figures that its linked result files hold.

Issue 22 asks that every figure README.md quotes come from a committed result file. A figure copied
by hand goes stale when a benchmark is re-run; this test finds it. Each row of the table names its
result files; every decimal figure of the row's "dbn" column must appear, to the precision printed,
in one of those files or in the JSON files beside them. Integers (epochs, seeds, sizes) and dates
are not checked: they are settings, not measurements.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: A decimal figure, signed with "-" or the typographic minus, not part of a word, a version or a date.
FIGURE = re.compile(r"(?<![\w.\-])[-\u2212]?\d+\.\d+(?![\w.]*\d)")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LINK = re.compile(r"\]\(([^)]+)\)")
NUMBER = re.compile(r"[-\u2212]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def results_rows(text):
    """``(label, figures cell, result-file links)`` of each row of the README's results table."""
    table = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not line.startswith("|") or set(cells[0]) <= {"-"}:
            continue
        if cells[0] == "result":  # the header
            continue
        rows.append((cells[0], cells[1], LINK.findall(cells[3])))
    return rows


def figures(cell):
    """The decimal figures of a table cell, as printed (dates and links left out)."""
    cell = DATE.sub(" ", LINK.sub("]", cell))
    return [match.group().replace("\u2212", "-") for match in FIGURE.finditer(cell)]


def source_numbers(links):
    """Every number in the linked result files and in the JSON files of their folders."""
    texts = []
    for link in links:
        path = ROOT / link
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
        folder = path if path.is_dir() else path.parent
        texts += [p.read_text(errors="replace") for p in sorted(folder.glob("*.json"))]
    numbers = set()
    for text in texts:
        for match in NUMBER.finditer(text.replace("\u2212", "-")):
            numbers.add(abs(float(match.group())))
    return numbers


def quoted_by(figure, numbers):
    """Whether some number rounds to ``figure`` at the precision it is printed with."""
    decimals = len(figure.split(".")[1])
    target = abs(float(figure))
    tolerance = 0.5 * 10.0**-decimals + 1e-9
    return any(abs(number - target) <= tolerance for number in numbers)


ROWS = results_rows(README.read_text())


def test_readme_has_a_results_table_with_linked_files():
    assert len(ROWS) >= 10
    for label, _, links in ROWS:
        assert links, f"README row {label!r} links no result file"


@pytest.mark.parametrize("label, cell, links", ROWS, ids=[row[0][:40] for row in ROWS])
def test_every_readme_figure_is_in_a_linked_result_file(label, cell, links):
    for link in links:
        assert (ROOT / link).exists(), f"README row {label!r} links {link}, which does not exist"
    numbers = source_numbers(links)
    missing = [figure for figure in figures(cell) if not quoted_by(figure, numbers)]
    assert not missing, (
        f"README row {label!r} quotes {missing}, found in none of its result files {links}"
    )


def test_figure_check_finds_a_stale_figure(tmp_path):
    # The check itself: a figure that rounds to a stored number passes, one that does not fails.
    result = tmp_path / "results.md"
    result.write_text("| test error | 1.0149 |\n| bound | \u221285.274 |\n")
    numbers = source_numbers([str(result)])
    assert quoted_by("1.01", numbers) and quoted_by("-85.27", numbers)
    assert quoted_by("-85.3", numbers)  # the same figure, printed to one decimal
    assert not quoted_by("1.02", numbers) and not quoted_by("-85.28", numbers)
    assert figures("1.56 % on 2026-12-04, v0.1.0 [x](a/b.md) -84.74 \u22121.5x") == [
        "1.56",
        "-84.74",
        "-1.5",
    ]
