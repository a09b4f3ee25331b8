"""docs/design.md's recipes (add a head, a backend, a dataset, a verb) name every file such a change
touches: the files exist, and an existing example of each kind is named (as a quoted string) in no
other source file, so following the recipe is the whole change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = (ROOT / "docs" / "design.md").read_text()
SOURCES = sorted((ROOT / "src" / "idrnet").rglob("*.py"))

# recipe → examples that exist today: (its quoted name in the code, values of the recipe's placeholders)
EXAMPLES = {
    "Add a head": [('"pspnet"', {"head": "pspnet"}), ('"upernet"', {"head": "upernet"}),
                   ('"deeplabv3"', {"head": "deeplabv3"}), ('"ocrnet"', {"head": "ocrnet"})],
    "Add a backend": [('"openvino"', {"runner": "openvino_model"})],
    "Add a dataset (a benchmark)": [('"cocostuff10k"', {}), ('"pascal_context59"', {}), ('"cihp"', {})],
    "Add a verb": [('"relations"', {"verb": "relations"}),
                   ('"export"', {"verb": "export"}), ('"predict"', {"verb": "predict"})],
}


def recipe_files(title: str, values: dict[str, str]) -> set[str]:
    section = DESIGN.split(f"#### {title}\n", 1)[1].split("\n#### ", 1)[0].split("\n### ", 1)[0]
    paths = set(re.findall(r"`((?:src|docs|tests)/[^`\s]+|pyproject\.toml)`", section))
    return {re.sub(r"<(\w+)>", lambda m: values[m.group(1)], p) for p in paths}


@pytest.mark.parametrize("title", list(EXAMPLES))
def test_a_recipes_files_exist_and_are_the_only_ones_naming_an_example(title):
    for quoted, values in EXAMPLES[title]:
        files = recipe_files(title, values)
        assert files, title
        missing = sorted(f for f in files if not (ROOT / f).exists())
        assert not missing, (title, missing)
        naming = {str(p.relative_to(ROOT)) for p in SOURCES if quoted in p.read_text()}
        assert naming <= files, (title, quoted, sorted(naming - files))


def test_a_verb_registered_in_verbs_alone_runs(monkeypatch, capsys):
    """The verb recipe's one line in VERBS is all the command line needs."""
    import types

    import idrnet.cli.main as cli_main

    verb = types.ModuleType("hello")
    verb.__doc__ = "Say hello."
    verb.add_arguments = lambda parser: parser.add_argument("--name", default="world")
    verb.run = lambda args: print(f"hello {args.name}") or 0
    monkeypatch.setitem(cli_main.VERBS, "hello", verb)
    assert cli_main.main(["hello", "--name", "idrnet"]) == 0
    assert capsys.readouterr().out == "hello idrnet\n"


def test_every_backend_record_names_a_builder_that_exists():
    from idrnet.deploy import runtime
    from idrnet.deploy.backends import BACKEND_RECORDS

    for record in BACKEND_RECORDS:
        assert callable(getattr(runtime, record.builder, None)), record


def test_every_package_a_backend_requires_has_an_extra():
    from idrnet.deploy.backends import BACKEND_RECORDS
    from idrnet.optional import EXTRAS

    for record in BACKEND_RECORDS:
        assert all(m in EXTRAS for m in record.requires + record.int8_requires), record
