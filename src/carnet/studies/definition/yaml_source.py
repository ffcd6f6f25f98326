"""Reading a study file with ruamel.yaml (YAML 1.2) while keeping where every value was written."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from carnet.studies.definition.findings import Finding, Path, path_text


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
    findings = _tab_findings(name, text)
    if findings:
        return None, findings
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
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
