"""A hostile study file is refused quickly, with its line, before it can take the machine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from carnet.studies.definition import Finding, study_text_validate
from carnet.studies.definition.yaml_source import MAX_DEPTH, MAX_SCALAR_CHARACTERS, MAX_TEXT_BYTES

# "Billion laughs": 9 ** 7 (4.8 million) strings from 600 bytes, once the aliases are expanded.
ALIAS_BOMB = textwrap.dedent(
    """\
    format: 1
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    study: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """
)

# Validates the bomb in a process of its own, held to 1 GB of memory: whatever happens, the
# suite goes on. It prints the CPU time validation took (wall time would also count the other
# processes of the suite) and what it found.
VALIDATE_IN_A_BOUNDED_PROCESS = """
import json, resource, sys, time
limit = 1024 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from carnet.studies.definition import study_text_validate
text = sys.stdin.read()
started = time.thread_time()
definition, findings = study_text_validate(text, name="bomb.yaml")
elapsed = time.thread_time() - started
print(json.dumps({"seconds": elapsed, "findings": [
    [f.severity, f.file, f.line, f.column, f.path, f.message] for f in findings
]}))
"""


def refusal(text: str) -> Finding:
    definition, findings = study_text_validate(text, name="hostile.yaml")
    assert definition is None
    errors = [finding for finding in findings if finding.severity == "error"]
    assert len(errors) == 1, [str(finding) for finding in errors]
    return errors[0]


def test_an_alias_bomb_is_refused_in_under_a_second_with_its_line() -> None:
    assert len(ALIAS_BOMB.encode()) < 600
    process = subprocess.run(
        [sys.executable, "-c", VALIDATE_IN_A_BOUNDED_PROCESS],
        input=ALIAS_BOMB,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    outcome = json.loads(process.stdout)
    assert outcome["seconds"] < 1
    [[severity, file, line, column, path, message]] = outcome["findings"]
    assert (severity, file, line, column) == ("error", "bomb.yaml", 3, 8)
    assert path == "(aliases)"
    assert message == (
        "an alias (*a) repeats another part of the file; study files do not use anchors and "
        "aliases: write the value out."
    )


def test_a_single_alias_is_refused_too() -> None:
    finding = refusal("format: 1\nstudy: &s {oid: S.X}\nother: *s\n")
    assert (finding.line, finding.column, finding.path) == (3, 8, "(aliases)")
    assert finding.message.startswith("an alias (*s) repeats another part of the file")


def test_a_merge_key_is_refused_as_an_alias() -> None:
    finding = refusal("format: 1\nbase: &base {a: 1}\nstudy:\n  <<: *base\n")
    assert (finding.line, finding.path) == (4, "(aliases)")


def test_deep_nesting_is_refused_at_the_level_past_the_limit() -> None:
    levels = MAX_DEPTH + 10
    text = "format: 1\nstudy:\n" + "".join(f"{'  ' * n}  k{n}:\n" for n in range(levels))
    text += "  " * levels + "  end: 1\n"
    finding = refusal(text)
    assert finding.path == "(nesting)"
    # The top mapping is level 1, `study:` holds level 2: level MAX_DEPTH + 1 is key k{MAX - 2}.
    assert finding.line == MAX_DEPTH + 1
    assert finding.message == (
        f"the data are nested more than {MAX_DEPTH} levels deep here; a study file needs far fewer."
    )


def test_deep_flow_nesting_is_refused_at_once_without_a_recursion_error() -> None:
    # Brackets are the cheapest deep nesting: 2 MB of them, read ahead by the scanner.
    text = "format: 1\nstudy: " + "[" * 1_000_000 + "]" * 1_000_000 + "\n"
    started = time.thread_time()  # CPU time: the refusal's cost, not the machine's load
    finding = refusal(text)
    assert time.thread_time() - started < 1
    assert (finding.line, finding.column, finding.path) == (2, 8 + MAX_DEPTH, "(nesting)")


def test_a_huge_scalar_is_refused_with_its_line() -> None:
    text = "format: 1\nstudy:\n  name: " + "x" * (MAX_SCALAR_CHARACTERS + 1) + "\n"
    finding = refusal(text)
    assert (finding.line, finding.column, finding.path) == (3, 9, "(size)")
    assert finding.message == (
        f"this value is {MAX_SCALAR_CHARACTERS + 1} characters long; a value in a study file is "
        f"at most {MAX_SCALAR_CHARACTERS}."
    )


def test_an_oversized_text_is_refused_before_it_is_parsed() -> None:
    text = "format: 1\nstudy:\n" + "  # padding\n" * (MAX_TEXT_BYTES // 12 + 1)
    finding = refusal(text)
    assert (finding.line, finding.path) == (1, "(file)")
    assert finding.message == (
        f"is {len(text.encode())} bytes; a study file is at most {MAX_TEXT_BYTES}."
    )


@pytest.mark.parametrize(
    "tag", ["!!python/object:os.system", "!!python/object/apply:os.system", "!custom", "!!str"]
)
def test_a_python_object_or_any_other_tag_is_refused(tag: str) -> None:
    finding = refusal(f"format: 1\nstudy:\n  name: {tag} {{}}\n")
    assert (finding.line, finding.column, finding.path) == (3, 9, "(tags)")
    assert finding.message == (
        f"the tag {tag} is not allowed in a study file: write plain values (quote a text that "
        "would otherwise read as a number or a date)."
    )
