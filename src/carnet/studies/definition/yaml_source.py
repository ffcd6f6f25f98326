"""Reading a study file with ruamel.yaml (YAML 1.2) while keeping where every value was written."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, NodeEvent, ScalarEvent
from ruamel.yaml.scanner import RoundTripScanner

from carnet.studies.definition.findings import Finding, Path, path_text

# Bounds on what one study file may ask of the machine. The largest example study is 75 kB,
# 9 levels deep, its longest value under 1 kB: these leave room for far bigger studies.
MAX_TEXT_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_SCALAR_CHARACTERS = 1024 * 1024
NESTING_PROBLEM = (
    f"the data are nested more than {MAX_DEPTH} levels deep here; a study file needs far fewer."
)


@dataclass
class Source:
    """A parsed study file: the plain data, and the ruamel tree that knows positions."""

    name: str
    tree: Any
    data: Any

    def locate(self, path: Path) -> tuple[int, int]:
        """Return the 1-based line and column of the value at ``path`` (or its nearest parent)."""
        node = self.tree
        line, column = 0, 0
        for part in path:
            if isinstance(node, CommentedMap) and part in node:
                line, column = node.lc.value(part) if node.lc.data.get(part) else (line, column)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, column = node.lc.item(part)
                node = node[part]
            else:
                break
        return line + 1, column + 1

    def finding(self, severity: str, path: Path, message: str) -> Finding:
        line, column = self.locate(path)
        return Finding(severity, self.name, line, column, path_text(path), message)


class FileLimitError(MarkedYAMLError):
    """A study file asks for something no study needs: tags, aliases, deep nesting, a huge value."""

    def __init__(self, mark: Any, path: str, problem: str) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = path


class StudyScanner(RoundTripScanner):
    """ruamel's scanner, refusing brackets nested deeper than a study file needs.

    The scanner reads ahead to the end of a flow collection (`[[[…]]]`) before the composer
    sees its first level, in time that grows with the square of the depth: the composer's limit
    comes too late for these.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise FileLimitError(self.reader.get_mark(), "(nesting)", NESTING_PROBLEM)
        super().fetch_flow_collection_start(TokenClass, to_push)


class StudyComposer(Composer):
    """ruamel's composer, refusing aliases, tags, deep nesting and huge values.

    The checks run on the parser's events, before any node is built: an alias bomb is refused
    at its first alias, so its expansion never starts. Aliases are refused outright rather than
    counted against a budget: a study file is read by people and diffed between versions, and a
    value written out once per use says plainly what each form holds; no example uses them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise FileLimitError(
                event.start_mark,
                "(aliases)",
                f"an alias (*{event.anchor}) repeats another part of the file; study files do "
                "not use anchors and aliases: write the value out.",
            )
        # ruamel counts the depth itself, but only after this check would have to run.
        if self.depth >= MAX_DEPTH:
            raise FileLimitError(event.start_mark, "(nesting)", NESTING_PROBLEM)
        if isinstance(event, NodeEvent):
            tag = getattr(event, "ctag", None)
            # Every explicit tag: !!python/object… must never reach a constructor, and even
            # !!str makes a tagged value that the schema does not take for text.
            if tag is not None:
                shown = str(tag).replace("tag:yaml.org,2002:", "!!")
                raise FileLimitError(
                    event.start_mark,
                    "(tags)",
                    f"the tag {shown} is not allowed in a study file: write plain values "
                    "(quote a text that would otherwise read as a number or a date).",
                )
        if isinstance(event, ScalarEvent) and len(event.value) > MAX_SCALAR_CHARACTERS:
            raise FileLimitError(
                event.start_mark,
                "(size)",
                f"this value is {len(event.value)} characters long; a value in a study file is "
                f"at most {MAX_SCALAR_CHARACTERS}.",
            )
        return super().compose_node(parent, index)


def _plain(node: Any) -> Any:
    """Return ruamel's nodes as plain dicts, lists and scalars; dates become ISO text."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    if isinstance(node, datetime.datetime | datetime.date):
        return node.isoformat()
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _tab_findings(name: str, text: str) -> list[Finding]:
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        indentation = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indentation:
            findings.append(
                Finding(
                    "error",
                    name,
                    number,
                    indentation.index("\t") + 1,
                    "(indentation)",
                    "a tab is used for indentation; YAML only allows spaces there.",
                )
            )
    return findings


def source_parse(text: str, *, name: str) -> tuple[Source | None, list[Finding]]:
    """Parse YAML text; return the source, or the located reasons it is not valid YAML."""
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        return None, [
            Finding(
                "error",
                name,
                1,
                1,
                "(file)",
                f"is {size} bytes; a study file is at most {MAX_TEXT_BYTES}.",
            )
        ]
    findings = _tab_findings(name, text)
    if findings:
        return None, findings
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Scanner = StudyScanner
    yaml.Composer = StudyComposer
    try:
        tree = yaml.load(text)
    except FileLimitError as error:
        mark = error.problem_mark
        return None, [
            Finding("error", name, mark.line + 1, mark.column + 1, error.path, str(error.problem))
        ]
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(part for part in (error.context, error.problem) if part)
        problem = problem.split("\n")[0].strip() or "malformed YAML"
        return None, [
            Finding("error", name, line, column, "(syntax)", f"not valid YAML: {problem}.")
        ]
    if not isinstance(tree, CommentedMap):
        return None, [
            Finding("error", name, 1, 1, "(top)", "a study file is a mapping (format:, study:, …).")
        ]
    return Source(name=name, tree=tree, data=_plain(tree)), []
