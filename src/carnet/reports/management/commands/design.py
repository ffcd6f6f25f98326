"""`carnet design simon|ahern|survival|proportions|sequential ...`: the design calculator.

Reads nothing and writes nothing: each action prints the result, its conventions and the lines
for the study's YAML (`--yaml` prints only those)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.analysis import AnalysisInputError
from carnet.reports.design import (
    DesignResult,
    design_ahern,
    design_proportions,
    design_sequential,
    design_simon,
    design_survival,
    fractions_from_text,
)


def _common(parser: argparse.ArgumentParser, *, alpha: float, power: float) -> None:
    parser.add_argument("--alpha", type=float, default=alpha, help=f"Alpha (default {alpha}).")
    parser.add_argument("--power", type=float, default=power, help=f"Power (default {power}).")
    parser.add_argument("--yaml", action="store_true", help="Print only the YAML lines.")


class Command(BaseCommand):
    help = (
        "Design calculator: Simon two-stage, A'Hern, survival events and patients (with "
        "dropout), two proportions, group-sequential boundaries with alpha and beta spending."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        simon = actions.add_parser("simon", help="Simon two-stage design (one-sided alpha).")
        simon.add_argument("p0", type=float, help="Response rate not worth pursuing.")
        simon.add_argument("p1", type=float, help="Response rate worth pursuing.")
        simon.add_argument("--minimax", action="store_true", help="The minimax design.")
        _common(simon, alpha=0.05, power=0.80)
        ahern = actions.add_parser("ahern", help="A'Hern exact single-stage design.")
        ahern.add_argument("p0", type=float, help="Response rate not worth pursuing.")
        ahern.add_argument("p1", type=float, help="Response rate worth pursuing.")
        _common(ahern, alpha=0.05, power=0.80)
        survival = actions.add_parser(
            "survival", help="Events (Schoenfeld or Freedman) and patients for a log-rank test."
        )
        survival.add_argument("hazard_ratio", type=float, help="Hazard ratio to detect.")
        survival.add_argument("--allocation", type=float, default=0.5)
        survival.add_argument("--formula", choices=["schoenfeld", "freedman"], default="schoenfeld")
        survival.add_argument("--control-median", type=float)
        survival.add_argument("--accrual", type=float, help="Accrual duration.")
        survival.add_argument("--follow-up", type=float, help="Follow-up after the last patient.")
        survival.add_argument(
            "--dropout", type=float, default=0.0, help="Share lost by --dropout-time."
        )
        survival.add_argument("--dropout-time", type=float)
        _common(survival, alpha=0.05, power=0.80)
        proportions = actions.add_parser("proportions", help="Patients to compare two proportions.")
        proportions.add_argument("p_control", type=float)
        proportions.add_argument("p_experimental", type=float)
        proportions.add_argument("--continuity-correction", action="store_true")
        _common(proportions, alpha=0.05, power=0.80)
        sequential = actions.add_parser(
            "sequential", help="Group-sequential bounds (alpha and beta spending) and inflation."
        )
        sequential.add_argument(
            "looks", help='Information fractions ("0.5,1") or the number of equal looks.'
        )
        sequential.add_argument(
            "--efficacy",
            choices=["obrien-fleming", "pocock", "hwang-shih-decani"],
            default="obrien-fleming",
        )
        sequential.add_argument("--efficacy-gamma", type=float, default=-4.0)
        sequential.add_argument(
            "--futility", choices=["obrien-fleming", "pocock", "hwang-shih-decani"]
        )
        sequential.add_argument("--futility-gamma", type=float, default=-2.0)
        sequential.add_argument("--binding", action="store_true")
        sequential.add_argument("--fixed-size", type=float, help="Fixed-design patients or events.")
        _common(sequential, alpha=0.025, power=0.90)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self._compute(options)
        except AnalysisInputError as error:
            raise CommandError(str(error)) from None
        if options["yaml"]:
            self.stdout.write(result.yaml)
            return
        self._print(result)

    def _compute(self, options: dict[str, Any]) -> DesignResult:
        action, alpha, power = options["action"], options["alpha"], options["power"]
        if action == "simon":
            return design_simon(
                p0=options["p0"],
                p1=options["p1"],
                alpha=alpha,
                power=power,
                kind="minimax" if options["minimax"] else "optimal",
            )
        if action == "ahern":
            return design_ahern(p0=options["p0"], p1=options["p1"], alpha=alpha, power=power)
        if action == "survival":
            return design_survival(
                hazard_ratio=options["hazard_ratio"],
                alpha=alpha,
                power=power,
                allocation=options["allocation"],
                formula=options["formula"],
                control_median=options["control_median"],
                accrual_duration=options["accrual"],
                follow_up_duration=options["follow_up"],
                dropout_rate=options["dropout"],
                dropout_time=options["dropout_time"],
            )
        if action == "proportions":
            return design_proportions(
                p_control=options["p_control"],
                p_experimental=options["p_experimental"],
                alpha=alpha,
                power=power,
                continuity_correction=options["continuity_correction"],
            )
        return design_sequential(
            information_fractions=fractions_from_text(options["looks"]),
            alpha=alpha,
            power=power,
            efficacy=options["efficacy"],
            efficacy_parameter=options["efficacy_gamma"],
            futility=options["futility"],
            futility_parameter=options["futility_gamma"],
            binding=options["binding"],
            fixed_size=options["fixed_size"],
        )

    def _print(self, result: DesignResult) -> None:
        self.stdout.write(result.title)
        width = max(len(label) for label, _value in result.values) + 2
        for label, value in result.values:
            self.stdout.write(f"  {label.ljust(width)}{value}")
        if result.columns:
            widths = [
                max(len(column), *(len(row[i]) for row in result.rows)) + 2
                for i, column in enumerate(result.columns)
            ]
            self.stdout.write(
                "  " + "".join(c.rjust(w) for c, w in zip(result.columns, widths, strict=True))
            )
            for row in result.rows:
                self.stdout.write(
                    "  " + "".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                )
        self.stdout.write(_("Conventions:"))
        for line in result.conventions:
            self.stdout.write(f"  {line}")
        self.stdout.write(_("For the study's YAML:"))
        self.stdout.write(result.yaml)
