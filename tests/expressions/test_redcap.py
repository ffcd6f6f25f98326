"""REDCap logic, in the style of public data dictionaries, translated and evaluated as REDCap.

Each case gives the logic as a REDCap designer writes it, the translation, and records with
the outcome REDCap gives: for branching, whether the field shows (a missing result hides it,
as false does in REDCap); for calculations, the value (blank is None).
"""

from datetime import date

import pytest

from carnet.expressions import (
    RedcapTranslationError,
    Symbol,
    SymbolTable,
    check,
    evaluate,
    parse,
    translate_redcap,
)
from tests.expressions.study import clock

SYMBOLS = SymbolTable(
    [
        Symbol.for_item("age", "integer"),
        Symbol.for_item("sex", "single_choice", codes=[0, 1]),
        Symbol.for_item("pregnant", "single_choice", codes=[0, 1, 9]),
        Symbol.for_item("ecog", "single_choice", codes=[0, 1, 2, 3, 4]),
        Symbol.for_item("weight", "decimal"),
        Symbol.for_item("height", "decimal"),
        Symbol.for_item("dob", "date"),
        Symbol.for_item("consent_date", "date"),
        Symbol.for_item("ae_other", "text"),
        Symbol.for_item("race", "multiple_choice", codes=[1, 2, 3, 4, 5, 99]),
        Symbol.for_item("hb", "decimal"),
        Symbol.for_item("plt", "integer"),
        Symbol.for_item("q1", "integer"),
        Symbol.for_item("q2", "integer"),
        Symbol.for_item("q3", "integer"),
    ]
)
EVENTS = {"baseline_arm_1": "baseline"}

CORPUS = [
    (
        "[sex] = '1' and [age] >= '12' and [age] <= '55'",
        "sex = 1 and age >= 12 and age <= 55",
        [
            ({"sex": 1, "age": 30}, True),
            ({"sex": 0, "age": 30}, False),
            ({"sex": 1, "age": None}, False),
        ],
    ),
    (
        "[pregnant] <> '0'",
        "coalesce(pregnant != 0, true)",
        [({"pregnant": 1}, True), ({"pregnant": 0}, False), ({"pregnant": None}, True)],
    ),
    (
        "[ae_other] <> ''",
        "not is_missing(ae_other)",
        [({"ae_other": "rash"}, True), ({"ae_other": None}, False)],
    ),
    (
        "[weight] = \"\" or [height] = ''",
        "is_missing(weight) or is_missing(height)",
        [({"weight": 70.0, "height": None}, True), ({"weight": 70.0, "height": 170.0}, False)],
    ),
    (
        "[race(99)] = '1'",
        "contains(race, 99)",
        [({"race": {99}}, True), ({"race": {1, 2}}, False)],
    ),
    (
        "[race(1)] = '0' AND [race(2)] = \"0\"",
        "not contains(race, 1) and not contains(race, 2)",
        [({"race": {3}}, True), ({"race": {2}}, False), ({"race": set()}, True)],
    ),
    (
        "[ecog] = '3' or [ecog] = '4' || [ecog] = '2'",
        "ecog = 3 or ecog = 4 or ecog = 2",
        [({"ecog": 4}, True), ({"ecog": 0}, False), ({"ecog": None}, False)],
    ),
    (
        "[baseline_arm_1][weight] > 40 and [sex] = '1'",
        "baseline.weight > 40 and sex = 1",
        [({"baseline.weight": 41.5, "sex": 1}, True), ({"baseline.weight": 39.0, "sex": 1}, False)],
    ),
    (
        "[hb] < 9 or [plt] < 100000",
        "hb < 9 or plt < 100000",
        [({"hb": 8.5, "plt": None}, True), ({"hb": None, "plt": 150000}, False)],
    ),
    (
        "datediff([dob], [consent_date], 'y') >= 18",
        "abs(days_between(dob, consent_date) / 365.2425) >= 18",
        [
            ({"dob": date(2000, 1, 1), "consent_date": date(2018, 1, 2)}, True),
            ({"dob": date(2000, 1, 1), "consent_date": date(2017, 12, 1)}, False),
            ({"dob": None, "consent_date": date(2017, 12, 1)}, False),
        ],
    ),
    (
        'datediff([consent_date], "today", "d", "ymd", true) <= 28',
        "days_between(consent_date, today()) <= 28",
        [({"consent_date": date(2024, 6, 1)}, True), ({"consent_date": date(2024, 5, 1)}, False)],
    ),
]

CALCULATIONS = [
    (
        "round([weight]/(([height]/100)^2),1)",
        "round(weight / (height / 100 * (height / 100)), 1)",
        [({"weight": 70.0, "height": 175.0}, 22.9), ({"weight": None, "height": 175.0}, None)],
    ),
    (
        'rounddown(datediff([dob],[consent_date],"y","ymd"))',
        "floor(abs(days_between(dob, consent_date) / 365.2425))",
        [({"dob": date(1960, 5, 20), "consent_date": date(2024, 5, 19)}, 63)],
    ),
    (
        "sum([q1],[q2],[q3])",
        "sum(q1, q2, q3)",
        [({"q1": 1, "q2": None, "q3": 3}, 4), ({"q1": 2, "q2": 2, "q3": 2}, 6)],
    ),
    (
        "if([age] >= 65, 1, 0)",
        "if(age >= 65, 1, 0)",
        [({"age": 70}, 1), ({"age": 40}, 0), ({"age": None}, 0)],
    ),
    (
        "[race(1)] + [race(2)] + [race(3)]",
        "if(contains(race, 1), 1, 0) + if(contains(race, 2), 1, 0) + if(contains(race, 3), 1, 0)",
        [({"race": {1, 3}}, 2)],
    ),
    (
        "if([weight] = '', '', [weight] * 2.2046)",
        "if(is_missing(weight), missing, weight * 2.2046)",
        [({"weight": None}, None), ({"weight": 10.0}, 22.046)],
    ),
]


@pytest.mark.parametrize(("logic", "translation", "records"), CORPUS)
def test_branching_logic_shows_a_field_when_redcap_would(logic, translation, records):
    text = translate_redcap(logic, events=EVENTS, symbols=SYMBOLS)
    assert text == translation
    expression = check(parse(text), SYMBOLS)
    for values, shown in records:
        assert (evaluate(expression, values, clock=clock) is True) == shown, values


@pytest.mark.parametrize(("logic", "translation", "records"), CALCULATIONS)
def test_calculations_give_what_redcap_gives(logic, translation, records):
    text = translate_redcap(logic, events=EVENTS, symbols=SYMBOLS)
    assert text == translation
    expression = check(parse(text), SYMBOLS)
    for values, expected in records:
        result = evaluate(expression, values, clock=clock)
        assert result == pytest.approx(expected) if expected is not None else result is None


def test_a_quoted_number_compared_with_a_text_item_stays_text():
    assert translate_redcap("[ae_other] = '1'", symbols=SYMBOLS) == 'ae_other = "1"'


@pytest.mark.parametrize(
    ("logic", "column", "reason"),
    [
        ("[event-name] = 'baseline_arm_1'", 1, "smart variable [event-name]"),
        ("[weight][2] > 40", 1, "repeating instances"),
        ("[sex:label] = 'Female'", 1, "field options"),
        ("mean([q1], [q2]) > 2", 1, "mean() has no Carnet equivalent"),
        ("[weight]^0.5 > 1", 9, "only ^2 and ^3"),
        ("[age] > 18 and ([sex] = '1'", 28, "ends too early"),
        ("[age] # 18", 7, "unexpected character '#'"),
        ("[age] < ''", 1, "only = '' and <> '' test for blank"),
    ],
)
def test_what_cannot_be_translated_is_refused_with_its_position(logic, column, reason):
    with pytest.raises(RedcapTranslationError) as caught:
        translate_redcap(logic)
    (problem,) = caught.value.problems
    assert reason in problem.message
    assert problem.position.column == column


def test_every_refusal_in_a_logic_is_reported_not_only_the_first():
    with pytest.raises(RedcapTranslationError) as caught:
        translate_redcap("sqrt([q1]) > 2 and [record-name] <> '' and [q2] > 1")
    assert [problem.position.column for problem in caught.value.problems] == [1, 20]
