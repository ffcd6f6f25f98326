"""CSV files of form data for the bulk path: the template a study gives, and reading a file
into records with every problem located (file, line, column).

One file per form. A line holds one form instance (``subject``, ``event``, ``occurrence``,
``repeat``, ``complete`` and the items outside repeating groups); a form with repeating groups
adds a ``row`` column, one line per row of its groups, the lines of one instance together.
What Excel writes is read as it is: UTF-8 with or without a byte-order mark, else Windows-1252
(French Excel's "CSV (separator: semicolon)"), commas or semicolons, decimal commas. An empty
cell sends nothing (the stored value stays); a cell holding one of the study's missing-data
codes (ND, NA, UNK…) enters that code. Lines whose first cell starts with ``#`` are comments
(the template's description of each column).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.audit.services import SystemActor
from carnet.capture.bulk.engine import (
    FormRecord,
    ImportOutcome,
    ImportRefused,
    Problem,
    Progress,
    forms_import,
)
from carnet.capture.bulk.settings import import_settings_of
from carnet.capture.rules import FormRules, study_rules
from carnet.capture.services import Missing
from carnet.core.errors import ValidationError
from carnet.runtime_settings.services import system_setting_value
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject
from carnet.subjects.services import (
    ImportedSubject,
    site_today,
    subject_import_refusal,
    subjects_import,
)

KEY_COLUMNS = ("subject", "event", "occurrence", "repeat")
# Read only for a subject the import registers (the study's `creates_subjects` import setting).
SUBJECT_COLUMNS = ("site", "included_on")
STATUS_COLUMN = "complete"
ROW_COLUMN = "row"
TRUE = {"1", "yes", "y", "true", "oui", "o", "x"}
FALSE = {"", "0", "no", "n", "false", "non"}
MEGABYTE = 1024 * 1024


class FileRefused(ValidationError):
    """A file cannot be read at all (too large, an unknown encoding, no header)."""


def import_limit_bytes() -> int:
    """Return the largest file an import reads: the ``import_max_megabytes`` runtime setting
    (files past it are refused before they are read whole, a mistaken 2 GB export)."""
    return int(system_setting_value("import_max_megabytes")) * MEGABYTE


def _importable(form_rules: FormRules) -> list[str]:
    return [
        name for name, item in form_rules.items.items() if item.type not in {"calculated", "file"}
    ]


def import_template(*, study: Study, form: str) -> str:
    """Return the CSV template of a form: its columns, then a comment line per column saying
    its type, range, units and codes."""
    version = study.current_version
    if version is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    rules = study_rules(version)
    form_rules = rules.forms.get(form)
    if form_rules is None:
        raise ValidationError(
            _("%(study)s has no form %(form)s.") % {"study": study.identifier, "form": repr(form)}
        )
    definition = rules.definition
    events = [e.name for e in definition.events if form in e.forms]
    items = _importable(form_rules)
    has_rows = bool(form_rules.repeating_groups)
    columns = [*KEY_COLUMNS, *([ROW_COLUMN] if has_rows else []), STATUS_COLUMN, *items]
    described = {
        "subject": _("subject identifier"),
        "event": _("event: %(events)s") % {"events": " | ".join(events)},
        "occurrence": _("occurrence of a repeating event (default 1)"),
        "repeat": _("instance of a repeating form (default 1)"),
        ROW_COLUMN: _("row of the repeating group (from 1)"),
        STATUS_COLUMN: _("1 to complete the form"),
    }
    codes = ", ".join(code.code for code in definition.missing_codes)
    for name in items:
        item = form_rules.items[name]
        parts = [item.type]
        if item.range_min is not None or item.range_max is not None:
            low = "" if item.range_min is None else item.range_min
            high = "" if item.range_max is None else item.range_max
            parts.append(f"{low}..{high}")
        if item.units:
            parts.append(item.units)
        if item.code_list:
            code_list = definition.code_list(item.code_list)
            if code_list is not None:
                parts.append(" | ".join(f"{c.code}={c.label.text('en')}" for c in code_list.items))
        if item.required:
            parts.append(_("required"))
        if codes:
            parts.append(_("or a missing-data code (%(codes)s)") % {"codes": codes})
        described[name] = "; ".join(str(p) for p in parts)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([f"# {described[columns[0]]}", *(described[c] for c in columns[1:])])
    return out.getvalue()


def _decode(data: bytes, name: str) -> str:
    """Return the text of a file: UTF-8 (a byte-order mark dropped), else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            line = data.count(b"\n", 0, utf8.start) + 1
            raise FileRefused(
                _(
                    "%(file)s, line %(line)s: the file is neither UTF-8 nor Windows-1252 "
                    '(byte 0x%(byte)02x); save it again as "CSV UTF-8".'
                )
                % {"file": name, "line": line, "byte": data[utf8.start]}
            ) from None


def read_limited(stream: IO[bytes], name: str, *, limit: int | None = None) -> bytes:
    """Return a file's bytes, read in chunks; refuse it as soon as it passes the limit."""
    limit = import_limit_bytes() if limit is None else limit
    chunks, size = [], 0
    while chunk := stream.read(MEGABYTE):
        size += len(chunk)
        if size > limit:
            raise FileRefused(
                _("%(file)s is larger than %(limit)s MB, the largest file an import reads.")
                % {"file": name, "limit": limit // MEGABYTE}
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return max((";", ",", "\t"), key=first.count)


@dataclass
class ReadFile:
    """A CSV file read into records, with the problems found reading it."""

    name: str
    form: str
    records: list[FormRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0


def csv_records_read(
    *,
    study: Study,
    name: str,
    data: bytes,
    form: str | None = None,
    create_subjects: bool = False,
    actor: User | SystemActor | None = None,
    new_subjects: dict[str, Subject] | None = None,
) -> ReadFile:
    """Read a CSV file of one form's data into records; ``form`` defaults to the file's name
    (``vitals.csv`` holds the form ``vitals``).

    With ``create_subjects``, a subject the study does not know is one to register at the site
    its ``site`` column names (one the ``actor`` may include at): an unsaved `Subject`, kept in
    ``new_subjects`` (shared by the files of one import) for `files_import` to register."""
    version = study.current_version
    if version is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    rules = study_rules(version)
    form = form or Path(name).stem
    form_rules = rules.forms.get(form)
    if form_rules is None:
        raise FileRefused(
            _("%(file)s: %(study)s has no form %(form)s (name the file after the form).")
            % {"file": name, "study": study.identifier, "form": repr(form)}
        )
    result = ReadFile(name, form)
    text = _decode(data, name)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise FileRefused(_("%(file)s is empty.") % {"file": name})
    header = [cell.strip() for cell in rows[0]]
    _header_check(result, header, form_rules)
    if result.problems:
        return result
    events = [e.name for e in rules.definition.events if form in e.forms]
    missing_codes = {code.code for code in rules.definition.missing_codes}
    subjects = _subjects(study, rows[1:], header)
    registering = (
        _Registering(study, actor, {} if new_subjects is None else new_subjects)
        if create_subjects
        else None
    )
    instances: dict[tuple[Any, ...], dict[str, Any]] = {}
    seen_rows: dict[tuple[Any, ...], int] = {}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        result.lines += 1
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        source = f"{name}:{number}"
        found = _instance_key(result, cells, source, subjects, events, registering)
        if found is None:
            continue
        # A subject to register has no primary key yet: its identifier stands for it.
        key = (found[0].identifier, *found[1:])
        group_row = cells.get(ROW_COLUMN, "")
        line_key = (*key, group_row)
        if line_key in seen_rows:
            result.problems.append(
                Problem(
                    source,
                    "",
                    _("this line repeats line %(line)s (same subject, event and form%(row)s).")
                    % {
                        "line": seen_rows[line_key],
                        "row": _(", row %(row)s") % {"row": group_row} if group_row else "",
                    },
                )
            )
            continue
        seen_rows[line_key] = number
        entry = instances.setdefault(
            key,
            {"subject": found[0], "source": source, "values": {}, "rows": {}, "complete": False},
        )
        entry["complete"] = entry["complete"] or _flag(result, cells, source)
        _cells_read(result, form_rules, cells, entry, source, missing_codes)
    for (_identifier, event, occurrence, repeat), entry in instances.items():
        result.records.append(
            FormRecord(
                subject=entry["subject"],
                event=event,
                form=form,
                occurrence=occurrence,
                repeat=repeat,
                values=entry["values"],
                rows=entry["rows"],
                complete=entry["complete"],
                source=entry["source"],
            )
        )
    return result


def _header_check(result: ReadFile, header: list[str], form_rules: FormRules) -> None:
    known = {*KEY_COLUMNS, *SUBJECT_COLUMNS, STATUS_COLUMN, ROW_COLUMN, *_importable(form_rules)}
    source = f"{result.name}:1"
    for column in header:
        if column not in known:
            message = (
                _("this item is calculated or a file; it cannot be imported.")
                if column in form_rules.items
                else _("%(form)s has no item %(column)s.")
                % {"form": repr(result.form), "column": repr(column)}
            )
            result.problems.append(Problem(source, column, message))
    duplicated = sorted({c for c in header if header.count(c) > 1})
    for column in duplicated:
        result.problems.append(Problem(source, column, _("this column appears twice.")))
    if "subject" not in header:
        result.problems.append(Problem(source, "subject", _("the column subject is required.")))


def _subjects(study: Study, rows: Iterable[list[str]], header: list[str]) -> dict[str, Subject]:
    if "subject" not in header:
        return {}
    at = header.index("subject")
    names = {row[at].strip() for row in rows if len(row) > at and row[at].strip()}
    # The subjects of the environment the study writes to (test data is kept apart).
    found = study.subjects.filter(
        environment=environment_written(study), identifier__in=names
    ).select_related("site", "study")
    return {subject.identifier: subject for subject in found}


class _Registering:
    """The subjects an import registers: their sites read once, each checked once."""

    def __init__(
        self, study: Study, actor: User | SystemActor | None, new: dict[str, Subject]
    ) -> None:
        self.study, self.actor, self.new = study, actor, new
        self.sites = {site.code: site for site in StudySite.objects.filter(study=study)}
        self.environment = environment_written(study)

    def subject(
        self, result: ReadFile, name: str, cells: dict[str, str], source: str
    ) -> Subject | None:
        """Return the subject to register for a line (the one an earlier line gave), or None
        with the line's problem noted."""
        code = cells.get("site", "")
        earlier = self.new.get(name)
        if earlier is not None:
            if code and code != earlier.site.code:
                result.problems.append(
                    Problem(
                        source,
                        "site",
                        _("another line registers %(subject)s at site %(site)s.")
                        % {"subject": repr(name), "site": earlier.site.code},
                    )
                )
                return None
            return earlier
        if not name:
            result.problems.append(Problem(source, "subject", _("give the subject.")))
            return None
        site = self.sites.get(code)
        if site is None:
            result.problems.append(
                Problem(
                    source,
                    "site",
                    _(
                        "%(subject)s is not a subject of this study yet: give the site to "
                        "register it at (%(sites)s)."
                    )
                    % {"subject": repr(name), "sites": ", ".join(sorted(self.sites))}
                    if not code
                    else _("%(study)s has no site %(site)s.")
                    % {"study": self.study.identifier, "site": repr(code)},
                )
            )
            return None
        refusal = subject_import_refusal(
            self.actor or SystemActor.command_line("carnet import"), study=self.study, site=site
        )
        if refusal:
            result.problems.append(Problem(source, "site", refusal))
            return None
        included_on = site_today(site)  # no included_on column: today at the site
        raw = cells.get("included_on", "")
        if raw:
            try:
                included_on = date.fromisoformat(raw)
            except ValueError:
                result.problems.append(
                    Problem(
                        source,
                        "included_on",
                        _("%(value)s is not a date (write it 2025-03-31).") % {"value": repr(raw)},
                    )
                )
                return None
        subject = Subject(
            study=self.study,
            site=site,
            environment=self.environment,
            identifier=name,
            included_on=included_on,
        )
        self.new[name] = subject
        return subject


def _instance_key(
    result: ReadFile,
    cells: dict[str, str],
    source: str,
    subjects: dict[str, Subject],
    events: list[str],
    registering: _Registering | None = None,
) -> tuple[Any, ...] | None:
    name = cells.get("subject", "")
    subject = subjects.get(name)
    ok = True
    if subject is None and registering is not None:
        subject = registering.subject(result, name, cells, source)
        ok = subject is not None
    elif subject is None:
        result.problems.append(
            Problem(
                source,
                "subject",
                _("no subject %(subject)s in this study (an import does not create subjects).")
                % {"subject": repr(name)},
            )
        )
        ok = False
    event = cells.get("event", "") or (events[0] if len(events) == 1 else "")
    if event not in events:
        result.problems.append(
            Problem(
                source,
                "event",
                _("name the event: %(events)s.") % {"events": ", ".join(events)}
                if not event
                else _("the form is not collected at %(event)s (%(events)s).")
                % {"event": repr(event), "events": ", ".join(events)},
            )
        )
        ok = False
    numbers = []
    for column in ("occurrence", "repeat"):
        raw = cells.get(column, "") or "1"
        if not raw.isdigit() or int(raw) < 1:
            result.problems.append(
                Problem(
                    source, column, _("%(value)s is not a number from 1.") % {"value": repr(raw)}
                )
            )
            ok = False
            numbers.append(1)
        else:
            numbers.append(int(raw))
    return (subject, event, numbers[0], numbers[1]) if ok else None


def _flag(result: ReadFile, cells: dict[str, str], source: str) -> bool:
    raw = cells.get(STATUS_COLUMN, "").lower()
    if raw in TRUE:
        return True
    if raw not in FALSE:
        result.problems.append(
            Problem(source, STATUS_COLUMN, _("write 1 to complete the form, 0 or nothing not to."))
        )
    return False


def _cells_read(
    result: ReadFile,
    form_rules: FormRules,
    cells: dict[str, str],
    entry: dict[str, Any],
    source: str,
    missing_codes: set[str],
) -> None:
    group_row = cells.get(ROW_COLUMN, "")
    for column, raw in cells.items():
        if (
            column in KEY_COLUMNS
            or column in SUBJECT_COLUMNS
            or column in {STATUS_COLUMN, ROW_COLUMN}
            or not raw
        ):
            continue
        value: Any = Missing(raw) if raw in missing_codes else raw
        group = form_rules.group_of.get(column)
        if group in form_rules.repeating_groups:
            if not group_row.isdigit() or int(group_row) < 1:
                result.problems.append(
                    Problem(
                        source,
                        ROW_COLUMN,
                        _("%(item)s is in a repeating group: give its row.")
                        % {"item": repr(column)},
                    )
                )
                continue
            entry["rows"].setdefault(group, {}).setdefault(int(group_row), {})[column] = value
            continue
        earlier = entry["values"].get(column)
        if earlier is not None and earlier != value:
            result.problems.append(
                Problem(
                    source,
                    column,
                    _("another line of this form gives %(value)s.") % {"value": repr(str(earlier))},
                )
            )
            continue
        entry["values"][column] = value


def files_import(
    *,
    actor: User | SystemActor,
    study: Study,
    files: Sequence[tuple[str, IO[bytes]]],
    reason: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import CSV files of form data, one form per file, all or nothing.

    Every file is read before anything is written; problems reading them (an unknown column, a
    line repeated, an unknown subject) and problems with their values are reported together:
    a dry run returns them, an import refuses with them (`ImportRefused`).
    """
    records: list[FormRecord] = []
    problems: list[Problem] = []
    creates_subjects = import_settings_of(study).creates_subjects
    new_subjects: dict[str, Subject] = {}
    for name, stream in files:
        try:
            data = read_limited(stream, name)
        finally:
            stream.close()
        read = csv_records_read(
            study=study,
            name=name,
            data=data,
            create_subjects=creates_subjects,
            actor=actor,
            new_subjects=new_subjects,
        )
        records.extend(read.records)
        problems.extend(read.problems)
    if problems and not dry_run:
        raise ImportRefused(problems)
    if new_subjects:
        return _import_registering(
            actor=actor,
            study=study,
            records=records,
            new_subjects=list(new_subjects.values()),
            problems=problems,
            reason=reason,
            dry_run=dry_run,
            progress=progress,
        )
    outcome = forms_import(
        actor=actor,
        study=study,
        records=records,
        reason=reason,
        dry_run=dry_run or bool(problems),
        progress=progress,
    )
    outcome.problems[:0] = problems
    return outcome


def _import_registering(
    *,
    actor: User | SystemActor,
    study: Study,
    records: list[FormRecord],
    new_subjects: list[Subject],
    problems: list[Problem],
    reason: str,
    dry_run: bool,
    progress: Progress | None,
) -> ImportOutcome:
    """Register the import's new subjects, then import their forms and the others', in one
    transaction: all or nothing. A dry run does the same and rolls everything back, so that it
    finds what the import would (each value checked against its subject)."""
    with transaction.atomic():
        created = subjects_import(
            actor=actor,
            study=study,
            subjects=[ImportedSubject(s.identifier, s.site, s.included_on) for s in new_subjects],
            reason=reason,
        )
        saved = {subject.identifier: subject for subject in created}
        outcome = forms_import(
            actor=actor,
            study=study,
            records=[
                replace(r, subject=saved[r.subject.identifier]) if r.subject.pk is None else r
                for r in records
            ],
            reason=reason,
            dry_run=dry_run or bool(problems),
            progress=progress,
        )
        if outcome.dry_run:
            transaction.set_rollback(True)
    outcome.subjects_created = len(created)
    outcome.problems[:0] = problems
    return outcome
