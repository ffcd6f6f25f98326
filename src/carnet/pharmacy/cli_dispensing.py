"""The dispensing actions of `carnet pharmacy`: assign, dispense, return, destroy,
accountability and resupply (writes audited as the command line). The command's file adds these
to its own actions; nothing here decides: services and selectors do."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from django.core.management.base import CommandError
from django.template.loader import render_to_string

from carnet.accounts.models import StudySite
from carnet.audit.services import SystemActor
from carnet.core.pdf import html_to_pdf
from carnet.pharmacy.accountability import accountability
from carnet.pharmacy.assignment import visit_kits_assign
from carnet.pharmacy.dispensing import kit_dispense, kit_return, kits_destroy
from carnet.pharmacy.resupply import resupply_propose, site_needs
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject


class Output(Protocol):
    def write(self, text: str) -> object: ...


ACTIONS = ("assign", "dispense", "return", "destroy", "accountability", "resupply")


def add_dispensing_actions(actions: Any) -> None:
    """Add the dispensing actions to the command's sub-parsers."""
    assign = actions.add_parser("assign", help="Assign the kit(s) of a subject's visit (audited).")
    assign.add_argument("study", metavar="STUDY")
    assign.add_argument("--subject", required=True)
    assign.add_argument("--event", required=True, help="The dispensing visit's event.")
    assign.add_argument("--occurrence", type=int, default=1)
    dispense = actions.add_parser("dispense", help="Record a kit dispensed (audited).")
    dispense.add_argument("study", metavar="STUDY")
    dispense.add_argument("--site", required=True)
    dispense.add_argument("--kit", required=True)
    dispense.add_argument("--on", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    dispense.add_argument("--to", required=True, help="To whom the kit was handed.")
    dispense.add_argument("--quantity", type=Decimal, help="The whole kit unless given.")
    back = actions.add_parser("return", help="Record a kit brought back (audited).")
    back.add_argument("study", metavar="STUDY")
    back.add_argument("--site", required=True)
    back.add_argument("--kit", required=True)
    back.add_argument("--on", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    back.add_argument("--quantity", type=Decimal, default=Decimal(0), help="Unused quantity.")
    back.add_argument("--note", default="")
    destroy = actions.add_parser("destroy", help="Record kits destroyed (audited).")
    destroy.add_argument("study", metavar="STUDY")
    destroy.add_argument("--site", required=True)
    destroy.add_argument("--kits", required=True, nargs="+")
    destroy.add_argument("--on", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    destroy.add_argument("--witness", required=True)
    destroy.add_argument("--certificate", required=True)
    account = actions.add_parser(
        "accountability",
        help="Print the accountability per site as CSV, or write the log (--output .html/.pdf).",
    )
    account.add_argument("study", metavar="STUDY")
    account.add_argument("--site", default="", help="One site only.")
    account.add_argument("--output", type=Path, help="A .html or .pdf file.")
    resupply = actions.add_parser(
        "resupply", help="Propose the resupplies due to the depot (audited, once a site a day)."
    )
    resupply.add_argument("study", metavar="STUDY")


def _study(identifier: str) -> Study:
    study = Study.objects.filter(identifier=identifier).first()
    if study is None:
        raise CommandError(f"There is no study {identifier}.")
    return study


def _site(study: Study, code: str) -> StudySite:
    site = StudySite.objects.filter(study=study, code=code).first()
    if site is None:
        raise CommandError(f"There is no site {code} in {study.identifier}.")
    return site


def _actor(action: str) -> SystemActor:
    return SystemActor.command_line(f"carnet pharmacy {action}")


def run_dispensing_action(action: str, options: dict[str, Any], out: Output) -> None:
    """Run one dispensing action of `carnet pharmacy`."""
    study = _study(options["study"])
    if action == "assign":
        subject = (
            Subject.objects.filter(study=study, identifier=options["subject"])
            .select_related("study", "site")
            .first()
        )
        if subject is None:
            raise CommandError(f"There is no subject {options['subject']} in {study.identifier}.")
        kits = visit_kits_assign(
            actor=_actor(action),
            subject=subject,
            event=options["event"],
            occurrence=options["occurrence"],
        )
        out.write(" ".join(k.number for k in kits) + "\n")
    elif action == "dispense":
        kit_dispense(
            actor=_actor(action),
            study=study,
            site=_site(study, options["site"]),
            number=options["kit"],
            on=options["on"],
            dispensed_to=options["to"],
            quantity=options["quantity"],
        )
        out.write(f"Kit {options['kit']} dispensed.\n")
    elif action == "return":
        kit_return(
            actor=_actor(action),
            study=study,
            site=_site(study, options["site"]),
            number=options["kit"],
            on=options["on"],
            quantity=options["quantity"],
            note=options["note"],
        )
        out.write(f"Kit {options['kit']} returned.\n")
    elif action == "destroy":
        done = kits_destroy(
            actor=_actor(action),
            study=study,
            site=_site(study, options["site"]),
            numbers=options["kits"],
            on=options["on"],
            witness=options["witness"],
            certificate=options["certificate"],
        )
        out.write(f"{len(done)} kit(s) destroyed.\n")
    elif action == "accountability":
        _accountability(study, options, out)
    elif action == "resupply":
        sites = list(StudySite.objects.filter(study=study).order_by("code"))
        proposals = resupply_propose(actor=_actor(action), study=study, sites=sites)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["site", "usable", "predicted_visits", "kits_per_content", "proposed"])
        proposed = {p.site_id for p in proposals}
        for need in site_needs(study, sites=sites):
            writer.writerow(
                [
                    need.site.code,
                    need.usable_total,
                    need.visits,
                    need.kits_per_content,
                    "yes" if need.site.pk in proposed else "no",
                ]
            )


def _accountability(study: Study, options: dict[str, Any], out: Output) -> None:
    sites = list(StudySite.objects.filter(study=study).order_by("code"))
    if options["site"]:
        sites = [_site(study, options["site"])]
    # The server's command reads as the centre: blinded, like the printed log monitors sign.
    account = accountability(study, environment_written(study), sites)
    output: Path | None = options["output"]
    if output is not None:
        html = render_to_string(
            "pharmacy/accountability_pdf.html",
            {"study": study, "account": account, "site": options["site"], "today": date.today()},
        )
        if output.suffix.lower() == ".pdf":
            output.write_bytes(html_to_pdf(html))
        else:
            output.write_text(html, encoding="utf-8")
        out.write(f"Wrote {output}.\n")
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["site", "received", "dispensed", "returned", "destroyed", "in_stock", "balances"]
    )
    for site in account.sites:
        writer.writerow(
            [
                site.site,
                site.received,
                site.dispensed,
                site.returned,
                site.destroyed,
                site.in_stock,
                "yes" if site.balances else "no",
            ]
        )
    for text in account.discrepancies:
        writer.writerow(["discrepancy", text])


__all__ = ["ACTIONS", "add_dispensing_actions", "run_dispensing_action"]
