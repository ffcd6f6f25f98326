"""Readable text forms of a study: its outline, its schedule grid, a migration report.

Used by `carnet study show|load|diff`; pages render the same information in HTML.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from carnet.studies.definition.model import Event, Item, StudyDefinition

# The anchors as a schedule names them, in the reader's language ("at inclusion", "from
# inclusion": French says "à l'inclusion", "à compter de l'inclusion").
ANCHOR_WORDS = {
    "inclusion": pgettext_lazy("schedule anchor", "inclusion"),
    "randomisation": pgettext_lazy("schedule anchor", "randomisation"),
    "end_of_treatment": pgettext_lazy("schedule anchor", "end of treatment"),
}
PREVIOUS_OCCURRENCE = gettext_lazy("the previous occurrence's actual date")


def schedule_text(event: Event) -> str:
    """Return when an event is due, as a data manager would say it, in the reader's language."""
    if event.unscheduled:
        return pgettext("event", "unscheduled")
    schedule = event.schedule
    if schedule is None:
        return _("no schedule")
    anchor = schedule.anchor_event
    anchor_text = (
        pgettext("schedule anchor", "event %(event)s") % {"event": anchor}
        if anchor
        else str(ANCHOR_WORDS[schedule.anchor])
    )
    offset = schedule.offset_days
    text = (
        _("day %(offset)s from %(anchor)s") % {"offset": f"{offset:+d}", "anchor": anchor_text}
        if offset
        else _("at %(anchor)s") % {"anchor": anchor_text}
    )
    window = schedule.window
    if window.before or window.after:
        text += _(", window -%(before)s/+%(after)s days") % {
            "before": window.before,
            "after": window.after,
        }
    if schedule.repeat:
        start = str(PREVIOUS_OCCURRENCE) if schedule.repeat.start == "previous" else anchor_text
        text += _("; then every %(days)s days from %(start)s") % {
            "days": schedule.repeat.every_days,
            "start": start,
        }
        if schedule.repeat.max_occurrences:
            text += _(", at most %(count)s times") % {"count": schedule.repeat.max_occurrences}
    return text


def _item_text(item: Item) -> str:
    details = [item.type.replace("_", " ")]
    if item.type == "calculated":
        details[0] = f"calculated {item.result_type}"
    if item.units:
        details.append(item.units)
    if item.range_min is not None or item.range_max is not None:
        details.append(
            f"{'' if item.range_min is None else item.range_min}.."
            f"{'' if item.range_max is None else item.range_max}"
        )
    if item.code_list:
        details.append(f"codes {item.code_list}")
    if item.required:
        details.append("required")
    details.extend(flag.replace("_", "-") for flag in item.flags)
    if item.show_if:
        details.append(f"shown if {item.show_if}")
    return f"{item.name} — {item.label.text('en')} ({', '.join(details)})"


def schedule_grid(definition: StudyDefinition) -> list[str]:
    """Return the schedule as a grid: one row per form, one column per event, X where collected."""
    events = list(definition.events)
    first_width = max(len(form.name) for form in definition.forms) + 2
    widths = [max(len(event.name), 3) + 2 for event in events]
    lines = [
        "".ljust(first_width)
        + "".join(e.name.ljust(w) for e, w in zip(events, widths, strict=True))
    ]
    for form in definition.forms:
        marks = "".join(
            ("X" if form.name in event.forms else ".").ljust(width)
            for event, width in zip(events, widths, strict=True)
        )
        lines.append(form.name.ljust(first_width) + marks)
    return [line.rstrip() for line in lines]


def outline(definition: StudyDefinition, *, language: str = "en") -> list[str]:
    """Return a readable outline of a study: metadata, arms, events, forms and items."""
    d = definition
    lines = [f"{d.identifier} — {d.title.text(language)}"]
    facts = [f"phase {d.phase}", f"sponsor {d.sponsor}"]
    facts += [
        f"{label} {value}"
        for label, value in (
            ("EU CT", d.registry.eu_ct),
            ("ID-RCB", d.registry.id_rcb),
            ("NCT", d.registry.nct),
        )
        if value
    ]
    lines.append("  " + "; ".join(facts))
    if d.design:
        lines.append(
            "  design: "
            + "; ".join(f"{k} {v}" for k, v in d.design.items() if not isinstance(v, dict))
        )
    if d.arms:
        lines.append(
            "Arms: " + ", ".join(f"{arm.name} ({arm.label.text(language)})" for arm in d.arms)
        )
    lines.append("")
    lines.append(f"Events ({len(d.events)}):")
    for event in d.events:
        lines.append(f"  {event.name} — {event.label.text(language)}: {schedule_text(event)}")
        lines.append(f"      forms: {', '.join(event.forms)}")
    lines.append("")
    lines.append(f"Forms ({len(d.forms)}):")
    for form in d.forms:
        lines.append(f"  {form.name} — {form.label.text(language)}")
        for group in form.groups:
            if group.repeating:
                limit = f", at most {group.max_rows} rows" if group.max_rows else ""
                lines.append(f"    [repeating group {group.name}{limit}]")
            indent = "      " if group.repeating else "    "
            lines.extend(indent + _item_text(item) for item in group.items)
        for rule in form.checks:
            lines.append(f"    check {rule.name} ({rule.severity}): {rule.expression}")
    if d.eligibility:
        lines.append("")
        lines.append(f"Eligibility ({len(d.eligibility)} criteria):")
        for criterion in d.eligibility:
            lines.append(f"  {criterion.kind} {criterion.name}: {criterion.expression}")
    lines.append("")
    lines.append("Schedule (forms × events):")
    lines.extend("  " + line for line in schedule_grid(d))
    return lines


def report_lines(report: dict[str, Any]) -> list[str]:
    """Return a migration report as text: counts per kind, then each change and its data."""
    lines = [f"Migration report: version {report['from_version']} -> {report['to_version']}"]
    if not report["changes"]:
        lines.append("  no change to the definition")
        return lines
    for kind, counts in report["summary"].items():
        parts = [f"{count} {change}" for change, count in counts.items() if count]
        lines.append(f"  {kind.replace('_', ' ')}s: {', '.join(parts)}")
    lines.append("")
    sign = {"added": "+", "removed": "-", "changed": "~"}
    for change in report["changes"]:
        where = f" on form {change['form']}" if change["form"] and change["kind"] != "form" else ""
        kind = change["kind"].replace("_", " ")
        line = f"  {sign[change['change']]} {kind} {change['name']} ({change['key']}){where}"
        if change["attributes"]:
            line += ": " + "; ".join(
                f"{a['attribute']} {a['old']!r} -> {a['new']!r}" for a in change["attributes"]
            )
        lines.append(line)
        data = change["data"]
        lines.append(
            "      data touched: "
            + (", ".join(f"{d['count']} {d['what']}" for d in data) if data else "none")
        )
    lines.append("")
    lines.append(f"Existing data rows touched: {report['data_rows_touched']}")
    return lines
