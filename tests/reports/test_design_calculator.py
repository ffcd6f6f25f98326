"""The design calculator: the page, the API and the command give the core's values, with their
conventions and the study's YAML; any signed-in person may use it, nobody else."""

from __future__ import annotations

from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from carnet.analysis import group_sequential_design, simon_two_stage, survival_sample_size
from carnet.reports.design import design_sequential, design_simon, fractions_from_text
from tests.accounts.personas import person

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider_client() -> Client:
    # An account with no role in any study: the calculator reads no study, so it is enough.
    client = Client()
    client.force_login(person("olga"))
    return client


def test_the_simon_result_is_the_cores_with_its_conventions_and_yaml() -> None:
    result = design_simon(p0=0.3, p1=0.45, alpha=0.05, power=0.9)
    optimal, _minimax = simon_two_stage(0.3, 0.45, alpha=0.05, power=0.9)
    assert (result.data["r1"], result.data["n1"], result.data["r"], result.data["n"]) == (
        optimal.r1,
        optimal.n1,
        optimal.r,
        optimal.n,
    )
    assert result.data["proven"]
    assert any("proven" in line for line in result.conventions)
    design = yaml.safe_load(result.yaml)["design"]
    assert design["sample_size"] == 110
    assert "13 or fewer respond" in design["statistical_design"]


def test_the_sequential_result_carries_futility_and_the_inflated_size() -> None:
    result = design_sequential(
        information_fractions=[0.5, 1.0], futility="obrien-fleming", fixed_size=247
    )
    core = group_sequential_design([0.5, 1.0], efficacy="obrien-fleming", futility="obrien-fleming")
    assert result.data["upper"] == list(core.upper)
    assert result.data["lower"] == list(core.lower or ())
    assert result.data["sizes"] == list(core.sample_sizes(247))
    assert any("Non-binding futility" in line for line in result.conventions)
    design = yaml.safe_load(result.yaml)["design"]
    # The fixed size may be events: the size goes into the sentence, not into `sample_size`.
    assert "sample_size" not in design
    assert f"({core.sample_sizes(247)[-1]} for a fixed 247)" in design["statistical_design"]


def test_information_fractions_are_read_from_a_list_or_a_count() -> None:
    assert fractions_from_text("0.5, 1") == [0.5, 1.0]
    assert fractions_from_text("4") == [0.25, 0.5, 0.75, 1.0]


def test_the_page_asks_to_sign_in_first(client: Client) -> None:
    response = client.get(reverse("reports:design"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_the_page_computes_a_survival_size_with_dropout(outsider_client: Client) -> None:
    response = outsider_client.get(
        reverse("reports:design"),
        {
            "calculator": "survival",
            "hazard_ratio": "0.7",
            "alpha": "0.05",
            "power": "0.8",
            "allocation": "0.5",
            "formula": "schoenfeld",
            "control_median": "4",
            "accrual_duration": "30",
            "follow_up_duration": "12",
            "dropout_rate": "0.1",
            "dropout_time": "12",
        },
    )
    assert response.status_code == 200
    size = survival_sample_size(
        0.7,
        control_median=4,
        accrual_duration=30,
        follow_up_duration=12,
        dropout_rate=0.1,
        dropout_time=12,
    )
    page = response.content.decode()
    assert f"<td>{size.events}</td>" in page
    assert f"<td>{size.patients}</td>" in page
    assert "Dropout 10% by 12" in page
    assert "sample_size: " in page


def test_the_page_says_why_a_request_is_refused(outsider_client: Client) -> None:
    response = outsider_client.get(
        reverse("reports:design"),
        {"calculator": "ahern", "p0": "0.3", "p1": "0.2", "alpha": "0.05", "power": "0.8"},
    )
    assert response.status_code == 200
    assert "must exceed p0" in response.content.decode()


def test_the_page_is_in_french_for_a_french_reader(outsider_client: Client) -> None:
    response = outsider_client.get(reverse("reports:design"), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Calculateur de plan d'étude" in response.content.decode()


def test_the_api_answers_any_signed_in_person(outsider_client: Client) -> None:
    response = outsider_client.get(
        "/api/design/sequential",
        {
            "information_fractions": "3",
            "futility": "hwang-shih-decani",
            "efficacy": "hwang-shih-decani",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert [round(z, 4) for z in body["data"]["upper"]] == [3.0107, 2.5465, 1.9992]
    assert body["conventions"]
    assert Client().get("/api/design/simon").status_code == 401


def test_the_api_refuses_a_bad_request_as_a_problem(outsider_client: Client) -> None:
    response = outsider_client.get("/api/design/simon", {"p0": "0.3", "p1": "0.3"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    response = outsider_client.get("/api/design/survival", {"formula": "magic"})
    assert response.status_code == 400


def test_the_command_prints_the_design_and_only_the_yaml_when_asked() -> None:
    out = StringIO()
    call_command("design", "ahern", "0.05", "0.2", stdout=out)
    assert "A'Hern" in out.getvalue()
    assert "27" in out.getvalue()
    out = StringIO()
    call_command("design", "survival", "0.75", "--yaml", stdout=out)
    assert yaml.safe_load(out.getvalue())["design"]["statistical_design"].endswith(
        "380 events (Schoenfeld)."
    )
    with pytest.raises(CommandError, match="must exceed p0"):
        call_command("design", "simon", "0.3", "0.2", stdout=StringIO())
