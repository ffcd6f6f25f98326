"""The design calculator: sample sizes and decision rules from `carnet.analysis`, with their
conventions in words and the lines to paste into the study's YAML.

Every calculator is a pure function of its inputs (no study, no patient data), so results are
kept in a small cache: the page, the API and the command ask the same questions again and again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from carnet.analysis import (
    AnalysisInputError,
    EventsFormula,
    GroupSequentialDesign,
    SimonDesign,
    SpendingFunction,
    ahern_single_stage,
    group_sequential_design,
    simon_two_stage,
    survival_sample_size,
    two_proportions_sample_size,
)

CALCULATORS = ("simon", "ahern", "survival", "proportions", "sequential")


def _choice(kind: type[Any], value: str, parameter: str) -> Any:
    """Return the enum member named by ``value``, refusing another word in a sentence."""
    try:
        return kind(value)
    except ValueError:
        raise AnalysisInputError(
            _("%(value)s is not one of %(known)s.")
            % {"value": value, "known": ", ".join(member.value for member in kind)},
            parameter=parameter,
        ) from None


@dataclass(frozen=True)
class DesignResult:
    """One calculator's answer: labelled values, an optional table, conventions, YAML."""

    calculator: str
    title: str
    values: list[tuple[str, str]]
    conventions: list[str]
    yaml: str
    data: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _yaml_text(sentence: str) -> str:
    """Return a folded YAML scalar of ``sentence``, indented under ``statistical_design:``."""
    words, lines, line = sentence.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > 88:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(f"    {text}" for text in lines)


def _yaml(sample_size: int | None, sentence: str, plan: dict[str, Any]) -> str:
    """Return the study YAML's `design:` lines: the fields the loader reads today, then the
    structured `statistical_plan` the loader reads (docs/analysis.md)."""
    lines = ["design:"]
    if sample_size is not None:
        lines.append(f"  sample_size: {sample_size}")
    lines.append("  statistical_design: >-")
    lines.append(_yaml_text(sentence))
    lines.append("  statistical_plan:")
    for key, value in plan.items():
        if value is None:  # not given: the plan leaves the key out
            continue
        if isinstance(value, list | tuple):
            shown = "[" + ", ".join(_scalar(v) for v in value) + "]"
        else:
            shown = _scalar(value)
        lines.append(f"    {key}: {shown}")
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@functools.lru_cache(maxsize=256)
def _simon(p0: float, p1: float, alpha: float, power: float) -> tuple[SimonDesign, SimonDesign]:
    return simon_two_stage(p0, p1, alpha=alpha, power=power)


def design_simon(
    *, p0: float, p1: float, alpha: float = 0.05, power: float = 0.80, kind: str = "optimal"
) -> DesignResult:
    """Return the Simon two-stage design (optimal or minimax) and the other one beside it."""
    if kind not in ("optimal", "minimax"):
        raise AnalysisInputError(
            _("%(value)s is not one of %(known)s.") % {"value": kind, "known": "optimal, minimax"},
            parameter="kind",
        )
    optimal, minimax = _simon(p0, p1, alpha, power)
    chosen = minimax if kind == "minimax" else optimal
    columns = [_("Design"), "r1/n1", "r/n", "EN(p0)", "PET(p0)", _("Exact alpha"), _("Power")]
    rows = [
        [
            _("optimal") if d.kind == "optimal" else _("minimax"),
            f"{d.r1}/{d.n1}",
            f"{d.r}/{d.n}",
            f"{d.expected_size:.1f}",
            f"{d.early_stop_probability:.2f}",
            f"{d.alpha:.4f}",
            f"{d.power:.4f}",
        ]
        for d in (optimal, minimax)
    ]
    sentence = (
        f"Simon two-stage {chosen.kind} design. H0: response rate p0 = {_percent(p0)}; "
        f"H1: p1 = {_percent(p1)}; one-sided alpha {_percent(alpha)}, power {_percent(power)}. "
        f"Stage 1: {chosen.n1} evaluable patients; the trial stops for futility if "
        f"{chosen.r1} or fewer respond. Otherwise {chosen.n - chosen.n1} more, {chosen.n} in "
        f"all; the treatment is worth further study if more than {chosen.r} respond. "
        f"PET(p0) {chosen.early_stop_probability:.2f}, EN(p0) {chosen.expected_size:.1f}, "
        f"exact alpha {chosen.alpha:.3f}, exact power {chosen.power:.3f}."
    )
    proof = (
        _(
            "Exhaustive exact binomial search; the optimum is proven (no design of any size "
            "does better)."
        )
        if chosen.proven
        else _("The search stopped at its bound: the optimum is not proven.")
    )
    return DesignResult(
        "simon",
        _("Simon two-stage design"),
        [
            (_("Stage 1: stop for futility if responses are at most"), f"{chosen.r1}/{chosen.n1}"),
            (_("Active if responses exceed"), f"{chosen.r}/{chosen.n}"),
            (_("Expected size under p0"), f"{chosen.expected_size:.1f}"),
            (_("Probability of early stop under p0"), f"{chosen.early_stop_probability:.2f}"),
        ],
        [
            _(
                "One-sided alpha %(alpha)s, power %(power)s; stop after stage 1 if responses ≤ "
                "r1, active if responses > r (Simon 1989)."
            )
            % {"alpha": _percent(alpha), "power": _percent(power)},
            proof,
        ],
        _yaml(
            chosen.n,
            sentence,
            {
                "method": "simon-two-stage",
                "kind": chosen.kind,
                "p0": p0,
                "p1": p1,
                "alpha": alpha,
                "power": power,
                "stage_1": [chosen.r1, chosen.n1],
                "final": [chosen.r, chosen.n],
            },
        ),
        {
            "kind": chosen.kind,
            "r1": chosen.r1,
            "n1": chosen.n1,
            "r": chosen.r,
            "n": chosen.n,
            "expected_size": chosen.expected_size,
            "early_stop_probability": chosen.early_stop_probability,
            "alpha": chosen.alpha,
            "power": chosen.power,
            "proven": chosen.proven,
            "other": {
                "kind": (minimax if chosen is optimal else optimal).kind,
                "r1": (minimax if chosen is optimal else optimal).r1,
                "n1": (minimax if chosen is optimal else optimal).n1,
                "r": (minimax if chosen is optimal else optimal).r,
                "n": (minimax if chosen is optimal else optimal).n,
            },
        },
        columns,
        rows,
    )


def design_ahern(*, p0: float, p1: float, alpha: float = 0.05, power: float = 0.80) -> DesignResult:
    """Return A'Hern's exact single-stage design."""
    design = ahern_single_stage(p0, p1, alpha=alpha, power=power)
    sentence = (
        f"A'Hern exact single-stage design. H0: response rate p0 = {_percent(p0)}; H1: p1 = "
        f"{_percent(p1)}; one-sided alpha {_percent(alpha)}, power {_percent(power)}. "
        f"{design.n} evaluable patients; the treatment is worth further study with "
        f"{design.r} or more responses (exact alpha {design.alpha:.3f}, power {design.power:.3f})."
    )
    return DesignResult(
        "ahern",
        _("A'Hern single-stage design"),
        [
            (_("Patients"), str(design.n)),
            (_("Active with at least this many responses"), str(design.r)),
            (_("Exact alpha"), f"{design.alpha:.4f}"),
            (_("Exact power"), f"{design.power:.4f}"),
        ],
        [
            _(
                "One-sided alpha %(alpha)s, power %(power)s; exact binomial; A'Hern counts "
                "responses “at least r” (clinfun's ph2single counts “more than r − 1”)."
            )
            % {"alpha": _percent(alpha), "power": _percent(power)}
        ],
        _yaml(
            design.n,
            sentence,
            {
                "method": "ahern-single-stage",
                "p0": p0,
                "p1": p1,
                "alpha": alpha,
                "power": power,
                "responses_needed": design.r,
                "patients": design.n,
            },
        ),
        {"n": design.n, "r": design.r, "alpha": design.alpha, "power": design.power},
    )


def design_survival(
    *,
    hazard_ratio: float,
    alpha: float = 0.05,
    power: float = 0.80,
    allocation: float = 0.5,
    formula: str = "schoenfeld",
    control_median: float | None = None,
    accrual_duration: float | None = None,
    follow_up_duration: float | None = None,
    dropout_rate: float = 0.0,
    dropout_time: float | None = None,
) -> DesignResult:
    """Return the events (Schoenfeld or Freedman) and, with durations, the patients."""
    size = survival_sample_size(
        hazard_ratio,
        alpha=alpha,
        power=power,
        allocation=allocation,
        formula=_choice(EventsFormula, formula, "formula"),
        control_median=control_median,
        accrual_duration=accrual_duration,
        follow_up_duration=follow_up_duration,
        dropout_rate=dropout_rate,
        dropout_time=dropout_time,
    )
    values = [
        (_("Events"), str(size.events)),
        (_("Events (unrounded)"), f"{size.events_exact:.1f}"),
    ]
    conventions = [
        _(
            "%(formula)s formula; two-sided alpha %(alpha)s, power %(power)s; experimental "
            "fraction %(allocation)s."
        )
        % {
            "formula": size.formula.value.capitalize(),
            "alpha": _percent(alpha),
            "power": _percent(power),
            "allocation": f"{allocation:g}",
        }
    ]
    sentence = (
        f"Two-sided log-rank test, alpha {_percent(alpha)}, power {_percent(power)}, hazard "
        f"ratio {hazard_ratio:g}: {size.events} events ({size.formula.value.capitalize()})."
    )
    if size.patients is not None and size.event_probability is not None:
        values += [
            (_("Probability of an event"), f"{size.event_probability:.3f}"),
            (_("Patients"), str(size.patients)),
        ]
        conventions.append(
            _(
                "Uniform accrual over %(accrual)s, follow-up %(follow_up)s after the last "
                "patient, exponential survival (control median %(median)s)."
            )
            % {
                "accrual": f"{accrual_duration:g}",
                "follow_up": f"{follow_up_duration:g}",
                "median": f"{control_median:g}",
            }
        )
        if dropout_rate:
            conventions.append(
                _("Dropout %(rate)s by %(time)s, exponential, a competing risk (as rpact).")
                % {"rate": _percent(dropout_rate), "time": f"{dropout_time:g}"}
            )
        sentence += (
            f" With {accrual_duration:g} of accrual, {follow_up_duration:g} of follow-up after "
            f"the last patient, a control median of {control_median:g}"
            + (f" and {_percent(dropout_rate)} dropout by {dropout_time:g}" if dropout_rate else "")
            + f": {size.patients} patients."
        )
    return DesignResult(
        "survival",
        _("Survival sample size"),
        values,
        conventions,
        _yaml(
            size.patients,
            sentence,
            {
                "method": f"log-rank-{size.formula.value}",
                "hazard_ratio": hazard_ratio,
                "alpha": alpha,
                "sides": 2,
                "power": power,
                "allocation": allocation,
                "events": size.events,
                "control_median": control_median,
                "accrual_duration": accrual_duration,
                "follow_up_duration": follow_up_duration,
                "dropout_rate": dropout_rate,
                "dropout_time": dropout_time,
                "patients": size.patients,
            },
        ),
        {
            "events": size.events,
            "events_exact": size.events_exact,
            "event_probability": size.event_probability,
            "patients": size.patients,
        },
    )


def design_proportions(
    *,
    p_control: float,
    p_experimental: float,
    alpha: float = 0.05,
    power: float = 0.80,
    continuity_correction: bool = False,
) -> DesignResult:
    """Return the patients per arm to compare two proportions (1:1)."""
    size = two_proportions_sample_size(
        p_control,
        p_experimental,
        alpha=alpha,
        power=power,
        continuity_correction=continuity_correction,
    )
    correction = _("with") if continuity_correction else _("without")
    sentence = (
        f"Two-sided comparison of proportions {_percent(p_control)} (control) and "
        f"{_percent(p_experimental)} (experimental), alpha {_percent(alpha)}, power "
        f"{_percent(power)}: {size.per_arm} patients per arm, {2 * size.per_arm} in all."
    )
    return DesignResult(
        "proportions",
        _("Two proportions"),
        [
            (_("Patients per arm"), str(size.per_arm)),
            (_("Patients in all"), str(2 * size.per_arm)),
            (_("Per arm (unrounded)"), f"{size.per_arm_exact:.1f}"),
        ],
        [
            _(
                "Two-sided alpha %(alpha)s, power %(power)s; normal approximation (Fleiss, "
                "Levin and Paik 2003), %(correction)s continuity correction; 1:1."
            )
            % {"alpha": _percent(alpha), "power": _percent(power), "correction": correction}
        ],
        _yaml(
            2 * size.per_arm,
            sentence,
            {
                "method": "two-proportions",
                "p_control": p_control,
                "p_experimental": p_experimental,
                "alpha": alpha,
                "sides": 2,
                "power": power,
                "continuity_correction": continuity_correction,
                "per_arm": size.per_arm,
            },
        ),
        {"per_arm": size.per_arm, "per_arm_exact": size.per_arm_exact},
    )


@functools.lru_cache(maxsize=128)
def _sequential(
    fractions: tuple[float, ...],
    alpha: float,
    power: float,
    efficacy: str,
    efficacy_parameter: float | None,
    futility: str | None,
    futility_parameter: float | None,
    binding: bool,
) -> GroupSequentialDesign:
    return group_sequential_design(
        fractions,
        alpha=alpha,
        power=power,
        efficacy=_choice(SpendingFunction, efficacy, "efficacy"),
        efficacy_parameter=efficacy_parameter,
        futility=_choice(SpendingFunction, futility, "futility") if futility else None,
        futility_parameter=futility_parameter,
        binding=binding,
    )


def _spending_words(spending: SpendingFunction, parameter: float | None) -> str:
    if spending is SpendingFunction.HWANG_SHIH_DECANI:
        return _("Hwang-Shih-DeCani (gamma %(gamma)s)") % {"gamma": f"{parameter:g}"}
    if spending is SpendingFunction.POCOCK:
        return _("Lan-DeMets Pocock-type")
    return _("Lan-DeMets O'Brien-Fleming-type")


def design_sequential(
    *,
    information_fractions: Sequence[float],
    alpha: float = 0.025,
    power: float = 0.90,
    efficacy: str = "obrien-fleming",
    efficacy_parameter: float | None = -4.0,
    futility: str | None = None,
    futility_parameter: float | None = -2.0,
    binding: bool = False,
    fixed_size: float | None = None,
) -> DesignResult:
    """Return group-sequential efficacy (and futility) bounds and the inflated sample size."""
    design = _sequential(
        tuple(float(t) for t in information_fractions),
        alpha,
        power,
        efficacy,
        efficacy_parameter,
        futility or None,
        futility_parameter,
        binding,
    )
    sizes = design.sample_sizes(fixed_size) if fixed_size else None
    columns = [
        _("Information"),
        _("Efficacy Z"),
        _("Futility Z"),
        _("Cumulative alpha"),
        _("Cumulative power"),
    ]
    if sizes:
        columns.append(_("Size"))
    rows = []
    for k, t in enumerate(design.information_fractions):
        row = [
            f"{t:.3f}",
            f"{design.upper[k]:.4f}",
            f"{design.lower[k]:.4f}" if design.lower is not None else "—",
            f"{design.cumulative_alpha[k]:.5f}",
            f"{design.cumulative_power[k]:.4f}",
        ]
        if sizes:
            row.append(str(sizes[k]))
        rows.append(row)
    conventions = [
        _(
            "One-sided alpha %(alpha)s, power %(power)s; efficacy bound by %(spending)s alpha "
            "spending; Z scale, numerical integration."
        )
        % {
            "alpha": _percent(alpha),
            "power": _percent(power),
            "spending": _spending_words(design.efficacy, design.efficacy_parameter),
        }
    ]
    if design.futility is not None:
        conventions.append(
            (
                _(
                    "Binding futility bound by %(spending)s beta spending (the efficacy bounds "
                    "count on stopping)."
                )
                if design.binding
                else _(
                    "Non-binding futility bound by %(spending)s beta spending (alpha is kept "
                    "whether the trial stops or not)."
                )
            )
            % {"spending": _spending_words(design.futility, design.futility_parameter)}
        )
    else:
        conventions.append(_("No futility bound."))
    looks = ", ".join(f"{_percent(t)}" for t in design.information_fractions)
    sentence = (
        f"Group-sequential design with analyses at {looks} of the information; one-sided "
        f"alpha {_percent(alpha)}, power {_percent(power)}; efficacy bounds (Z) "
        + ", ".join(f"{z:.3f}" for z in design.upper)
        + (
            "; "
            + ("binding" if design.binding else "non-binding")
            + " futility bounds (Z) "
            + ", ".join(f"{z:.3f}" for z in design.lower)
            if design.lower is not None
            else "; no futility bound"
        )
        + f"; sample size inflation {design.inflation:.3f} over the fixed design"
        + (f" ({sizes[-1]} for a fixed {fixed_size:g})." if sizes else ".")
    )
    return DesignResult(
        "sequential",
        _("Group-sequential boundaries"),
        [
            (_("Sample size inflation over the fixed design"), f"{design.inflation:.4f}"),
            (_("Type I error with the futility bound obeyed"), f"{design.alpha_with_futility:.4f}"),
        ]
        + ([(_("Maximum size"), str(sizes[-1]))] if sizes else []),
        conventions,
        # No `sample_size:` line: the fixed size may count events, and that field counts patients.
        _yaml(
            None,
            sentence,
            {
                "method": "group-sequential",
                "information_fractions": list(design.information_fractions),
                "alpha": alpha,
                "sides": 1,
                "power": power,
                "efficacy_spending": design.efficacy.value,
                "efficacy_parameter": design.efficacy_parameter,
                "futility_spending": design.futility.value if design.futility else None,
                "futility_parameter": design.futility_parameter,
                "binding": design.binding,
                "inflation": round(design.inflation, 4),
            },
        ),
        {
            "upper": list(design.upper),
            "lower": list(design.lower) if design.lower is not None else None,
            "inflation": design.inflation,
            "cumulative_alpha": list(design.cumulative_alpha),
            "cumulative_power": list(design.cumulative_power),
            "alpha_with_futility": design.alpha_with_futility,
            "sizes": list(sizes) if sizes else None,
        },
        columns,
        rows,
    )


def fractions_from_text(text: str) -> list[float]:
    """Return information fractions from "0.5, 1" or from a number of equally spaced looks."""
    text = text.strip()
    if text.isdigit():
        looks = int(text)
        return [k / looks for k in range(1, looks + 1)] if looks > 0 else []
    values = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise AnalysisInputError(
                _("%(value)s is not an information fraction (a number between 0 and 1).")
                % {"value": part},
                parameter="information_fractions",
            ) from None
    return values


__all__ = [
    "CALCULATORS",
    "DesignResult",
    "design_ahern",
    "design_proportions",
    "design_sequential",
    "design_simon",
    "design_survival",
    "fractions_from_text",
]
