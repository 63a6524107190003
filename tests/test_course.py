"""The course reads like a book: main-path code cells stay short, and every measured number the prose quotes
is one the reader sees stored in that notebook (or in a `results/` file the same cell names).

The convention the number check enforces: in a notebook's markdown, each decimal number, percentage or ratio
(`2.00`, `93.7%`, `7.3×`; sizes such as 224×224 and versions are not results) must appear in one of the
notebook's stored outputs, or in a `results/...` file named in the same markdown cell (a setting may instead
appear in the notebook's code), or sit in a sentence that names where it comes from — the paper (a sentence
mentioning "paper", a Table, Section, Figure or Appendix), the MNIST-1D paper, or the reference
implementations. Formulas (`$...$`) and code spans are not prose."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAIN_PATH = [p for p in NOTEBOOKS if p.name[:2].isdigit()]
MAX_LINES = 30
NUMBER = re.compile(r"(?<![\w.×])\d[\d,]*(?:\.\d+)?\s?(?:%|×(?!\s?\d))|(?<![\w.,×])\d[\d,]*\.\d+(?![\w.×])")
VERSION = re.compile(r"(?:PyTorch|torch|Python|version|CVE-[\d-]*)\s*(?:≥|>=|<|before)?\s*$", re.I)
SOURCED = re.compile(
    r"paper|Table|Tab\.|Section|§|Figure|Fig\.|Appendix|App\.|reference port|transformers|JAX|"
    r"lucidrains|Greydanus|et al\.",
    re.I,
)


def cells(path, kind):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def stored_text(path):
    "Everything the notebook's code cells show: their source, stream text and text/plain results."
    parts = []
    for cell in cells(path, "code"):
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def prose(markdown):
    "The markdown without formulas, code spans and code blocks."
    markdown = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    markdown = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", markdown, flags=re.S)
    return re.sub(r"`[^`]*`", " ", markdown)


def sentences(text):
    return re.split(r"(?<=[.!?:;])\s+(?=[A-Z(*|])|\n\s*[*|-]\s|\n\n", text)


def forms(number):
    """The ways a quoted number may be printed: as written, without thousands commas, a percentage as a
    fraction."""
    bare = number.replace(",", "").rstrip("%× ").strip()
    found = {number.strip(), bare}
    if number.strip().endswith("%"):
        value = float(bare) / 100
        found |= {f"{value:.3f}", f"{value:.4f}".rstrip("0"), f"{value:.2f}"}
    return found


def unsupported_numbers(path):
    stored, missing = stored_text(path), []
    for cell in cells(path, "markdown"):
        text = "".join(cell["source"])
        named = [ROOT / m for m in re.findall(r"results/[\w./-]+\.\w+", text) if (ROOT / m).is_file()]
        sources = stored + "\n".join(p.read_text() for p in named)
        for sentence in sentences(prose(text)):
            if SOURCED.search(sentence):
                continue
            for match in NUMBER.finditer(sentence):
                number = match.group()
                if VERSION.search(sentence[: match.start()]):
                    continue
                if not any(form in sources for form in forms(number)):
                    missing.append(f"{number.strip()!r} in: {sentence.strip()[:100]}")
    return missing


@pytest.mark.parametrize("path", MAIN_PATH, ids=lambda p: p.name)
def test_main_path_code_cells_are_short(path):
    long = [
        f"cell {i}: {len(src.splitlines())} lines, starting {src.splitlines()[0]!r}"
        for i, src in enumerate("".join(c["source"]).strip() for c in cells(path, "code"))
        if len(src.splitlines()) > MAX_LINES
    ]
    assert not long, (
        f"{path.name}: main-path code cells over {MAX_LINES} lines (move engineering to an appendix): {long}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_quotes_only_stored_numbers(path):
    missing = unsupported_numbers(path)
    assert not missing, f"{path.name}: numbers in the prose that no stored output shows: {missing}"


def test_the_number_check_can_fail(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["Our model reaches 93.7% here.\n"]},
            {
                "cell_type": "code",
                "source": ["print(0.95)"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["0.95\n"]}],
            },
        ]
    }
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(notebook))
    assert unsupported_numbers(path) == ["'93.7%' in: Our model reaches 93.7% here."]
    notebook["cells"][1]["outputs"][0]["text"] = ["accuracy 0.937\n"]
    path.write_text(json.dumps(notebook))
    assert unsupported_numbers(path) == []
