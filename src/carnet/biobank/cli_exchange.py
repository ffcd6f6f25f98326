"""`carnet biobank destination|mta|ship|receive|manifest|request|withdrawal|lims-export|
lims-import STUDY …`: the biobank's exchange from the server (writes audited as the command
line). The `biobank` command adds these actions with `add_exchange_actions` and hands them to
`handle_exchange`, so the other parts of the biobank can add their own actions beside them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.biobank.consent import sample_dispose, samples_to_dispose
from carnet.biobank.exchange import lims_export, lims_import
from carnet.biobank.models import DestinationKind, DispositionAction, SampleUse
from carnet.biobank.mta import agreement_create, agreement_of, destination_create, destination_of
from carnet.biobank.requests import request_of, sample_request_decide, sample_request_submit
from carnet.biobank.shipments import (
    discrepancies,
    manifest_csv,
    manifest_pdf,
    shipment_of_study,
    shipment_prepare,
    shipment_receive,
    shipment_send,
)
from carnet.studies.models import Study

EXCHANGE_ACTIONS = (
    "destination",
    "mta",
    "ship",
    "receive",
    "manifest",
    "request",
    "withdrawal",
    "lims-export",
    "lims-import",
)


def _study(identifier: str) -> Study:
    found = Study.objects.filter(identifier=identifier).first()
    if found is None:
        raise CommandError(_("There is no study %(study)s.") % {"study": identifier})
    return found


def _actor(action: str) -> SystemActor:
    return SystemActor.command_line(f"carnet biobank {action}")


def _list(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def add_exchange_actions(actions: Any) -> None:
    """Add the exchange's actions to the `biobank` command's subparsers."""
    p = actions.add_parser("destination", help="Add a destination of samples (audited).")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--code", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=DestinationKind.values)
    p.add_argument("--contact", default="")
    p = actions.add_parser("mta", help="Record a material transfer agreement (audited).")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--reference", required=True)
    p.add_argument("--destination", required=True, help="The partner's destination code.")
    p.add_argument("--uses", required=True, help=f"Among {', '.join(SampleUse.values)}.")
    p.add_argument("--sample-types", default="", help="Comma-separated; none: any type.")
    p.add_argument("--from", dest="starts_on", required=True, type=date.fromisoformat)
    p.add_argument("--to", dest="ends_on", required=True, type=date.fromisoformat)
    p.add_argument("--maximum", type=int, default=None, help="Maximum number of samples.")
    p = actions.add_parser(
        "ship", help="Prepare and send a shipment; refused whole outside consent or MTA."
    )
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--destination", required=True)
    p.add_argument("--use", required=True, choices=SampleUse.values)
    p.add_argument("--mta", default="", help="The MTA's reference (required for a partner).")
    p.add_argument("--samples", required=True, help="Identifiers, comma- or space-separated.")
    p.add_argument("--prepare-only", action="store_true", help="Prepare without sending.")
    p = actions.add_parser("receive", help="Record a shipment's receipt and print discrepancies.")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("shipment", metavar="SHIPMENT")
    p.add_argument("--file", type=Path, help="The destination's list (one identifier a line).")
    p.add_argument("--received", default="", help="Or the identifiers, comma-separated.")
    p = actions.add_parser("manifest", help="Write a shipment's manifest (.csv or .pdf).")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("shipment", metavar="SHIPMENT")
    p.add_argument("--output", required=True, type=Path)
    p = actions.add_parser(
        "request", help="Submit a sample request, or decide one with --decide (audited)."
    )
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--destination", default="")
    p.add_argument("--sample-type", default="")
    p.add_argument("--quantity", type=int, default=0)
    p.add_argument("--use", default="", choices=["", *SampleUse.values])
    p.add_argument("--purpose", default="")
    p.add_argument("--decide", default="", metavar="REQUEST", help="The request to decide.")
    p.add_argument("--approve", action="store_true", help="With --decide: approve it.")
    p.add_argument("--mta", default="", help="With --approve: the MTA it goes under.")
    p.add_argument("--reason", default="", help="With --decide: why (required to refuse).")
    p = actions.add_parser(
        "withdrawal",
        help="Print the samples to destroy or return; record a decision with --samples.",
    )
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--samples", default="", help="Identifiers whose fate to record.")
    p.add_argument(
        "--action", dest="disposition", default="", choices=["", *DispositionAction.values]
    )
    p.add_argument("--reason", default="")
    p = actions.add_parser("lims-export", help="Write the study's samples as the LIMS CSV.")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--shape", default="carnet", choices=["carnet", "openspecimen"])
    p.add_argument("--output", type=Path, help="A file (default: standard output).")
    p = actions.add_parser(
        "lims-import", help="Import samples from the LIMS CSV: all or nothing (audited)."
    )
    p.add_argument("study", metavar="STUDY")
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="Check and count; write nothing.")


def handle_exchange(options: dict[str, Any], write: Callable[[str], None]) -> None:
    """Run one exchange action; `write` prints a line."""
    action = options["action"]
    study = _study(options["study"])
    actor = _actor(action)
    if action == "destination":
        made = destination_create(
            actor=actor,
            study=study,
            code=options["code"],
            name=options["name"],
            kind=options["kind"],
            contact=options["contact"],
        )
        write(made.code)
    elif action == "mta":
        agreement = agreement_create(
            actor=actor,
            study=study,
            reference=options["reference"],
            destination=destination_of(study, options["destination"]),
            uses=_list(options["uses"]),
            sample_types=_list(options["sample_types"]),
            starts_on=options["starts_on"],
            ends_on=options["ends_on"],
            maximum_samples=options["maximum"],
        )
        write(agreement.reference)
    elif action == "ship":
        shipment = shipment_prepare(
            actor=actor,
            study=study,
            destination=destination_of(study, options["destination"]),
            use=options["use"],
            agreement=agreement_of(study, options["mta"]),
            identifiers=_list(options["samples"]),
        )
        if not options["prepare_only"]:
            shipment_send(actor=actor, shipment=shipment)
        write(f"{shipment.reference} {shipment.status}")
    elif action == "receive":
        shipment = shipment_of_study(None, study, options["shipment"])
        text = options["file"].read_text(encoding="utf-8-sig") if options["file"] else ""
        text = text or "\n".join(_list(options["received"]))
        shipment = shipment_receive(actor=actor, shipment=shipment, received=text)
        found = discrepancies(shipment)
        write(f"received {found.received}")
        write(f"missing {' '.join(found.missing)}".rstrip())
        write(f"unexpected {' '.join(found.unexpected)}".rstrip())
    elif action == "manifest":
        shipment = shipment_of_study(None, study, options["shipment"])
        output: Path = options["output"]
        if output.suffix == ".pdf":
            output.write_bytes(manifest_pdf(shipment))
        else:
            output.write_text(manifest_csv(shipment), encoding="utf-8")
        write(str(output))
    elif action == "request":
        _request(options, study, actor, write)
    elif action == "withdrawal":
        _withdrawal(options, study, actor, write)
    elif action == "lims-export":
        text = lims_export(None, study, shape=options["shape"])
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    elif action == "lims-import":
        report = lims_import(
            actor=actor,
            study=study,
            text=options["file"].read_text(encoding="utf-8-sig"),
            dry_run=options["dry_run"],
        )
        prefix = "dry run: " if report.dry_run else ""
        write(
            f"{prefix}{len(report.created)} created, {len(report.updated)} updated, "
            f"{report.unchanged} unchanged"
        )


def _request(
    options: dict[str, Any], study: Study, actor: SystemActor, write: Callable[[str], None]
) -> None:
    if options["decide"]:
        decided = sample_request_decide(
            actor=actor,
            request=request_of(study, options["decide"]),
            approve=options["approve"],
            reason=options["reason"],
            agreement=agreement_of(study, options["mta"]),
        )
        write(f"{decided.reference} {decided.status}")
        return
    made = sample_request_submit(
        actor=actor,
        study=study,
        destination=destination_of(study, options["destination"]),
        sample_type=options["sample_type"],
        quantity=options["quantity"],
        use=options["use"],
        purpose=options["purpose"],
    )
    write(made.reference)


def _withdrawal(
    options: dict[str, Any], study: Study, actor: SystemActor, write: Callable[[str], None]
) -> None:
    if options["samples"]:
        done = sample_dispose(
            actor=actor,
            study=study,
            identifiers=_list(options["samples"]),
            action=options["disposition"],
            reason=options["reason"],
        )
        write(f"{len(done)} recorded")
        return
    write("sample,parent,subject,site,status,withdrawal,may_keep")
    for row in samples_to_dispose(None, study):
        sample = row.sample
        write(
            ",".join(
                [
                    sample.identifier,
                    sample.parent.identifier if sample.parent else "",
                    sample.subject.identifier,
                    sample.site.code,
                    sample.status,
                    row.withdrawal,
                    "yes" if row.may_keep else "no",
                ]
            )
        )
