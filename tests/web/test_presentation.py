"""What every page shows around its content: Carnet's own version in the footer, an icon for the
browser's tab, and dates in the one format of the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import translation

import carnet
from carnet.accounts.roles import Role
from carnet.web.templatetags.carnet_time import day_text
from tests.accounts.personas import person
from tests.web.helpers import administrator_client, sign_in
from tests.web.test_page_matrix import world_with_a_subject

TEMPLATES = Path(carnet.__file__).resolve().parent


def footer_of(html: str) -> str:
    found = re.search(r"<footer>(.*?)</footer>", html, re.S)
    assert found, "the page has no footer"
    return re.sub(r"<[^>]+>", "", found.group(1))


@pytest.mark.django_db
def test_the_footer_shows_carnets_version_on_every_page_not_a_studys_or_a_forms() -> None:
    w = world_with_a_subject()
    person("ines", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    client = Client()
    assert carnet.__version__ in footer_of(client.get("/").content.decode())
    sign_in(client, "ines")
    for page in (
        "/",
        "/studies/MINI/",  # holds version 1 of the study
        "/studies/MINI/versions/1/",
        "/studies/MINI/subjects/01-001/",
        "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/",  # a form's version
        "/studies/NOPE/",  # the error page
    ):
        footer = footer_of(client.get(page).content.decode())
        assert footer.startswith(f"Carnet {carnet.__version__} · "), (page, footer)
        assert "MINI" not in footer, page


@pytest.mark.django_db
def test_favicon_ico_leads_to_carnets_icon_rather_than_a_404() -> None:
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/web/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(icon.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_every_page_names_the_icon_even_before_the_second_factor() -> None:
    client = Client()
    assert '<link rel="icon" href="/static/web/favicon.svg"' in client.get("/").content.decode()
    administrator = administrator_client()
    html = administrator.get("/administration/").content.decode()
    assert '<link rel="icon" href="/static/web/favicon.svg"' in html
    # Someone who still owes the second factor is not sent away from the icon either.
    from carnet.accounts.models import User

    User.objects.create_superuser("pending-admin", password="a long test password")
    pending = Client()
    sign_in(pending, "pending-admin")
    assert pending.get("/favicon.ico")["Location"] == "/static/web/favicon.svg"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_date_has_one_format_per_language(language: str) -> None:
    with translation.override(language):
        assert day_text(date(2025, 6, 2)) == "2025-06-02"
        assert day_text("2025-06-02") == "2025-06-02"
        assert day_text(datetime(2025, 6, 2, 23, 30, tzinfo=UTC)) == "2025-06-02"
        assert day_text(None) == ""
        assert day_text("2025-06") == "2025-06"  # a partial date, shown as it came
        shown = Template("{% load carnet_time %}{{ a|day }} {{ b }}").render(
            Context({"a": date(2025, 1, 1), "b": date(2025, 1, 1)})
        )
        # A date a template shows without the filter comes out the same way.
        assert shown == "2025-01-01 2025-01-01"


@pytest.mark.django_db
def test_the_study_page_and_the_delegation_log_show_dates_as_the_rest_of_carnet() -> None:
    w = world_with_a_subject()
    client = administrator_client()
    client.post("/language/", {"language": "fr", "next": "/"})
    study = client.get("/studies/MINI/").content.decode()
    assert "<td>2025-01-01</td>" in study  # sites active from 1 January 2025
    assert "janvier" not in study
    person("ines", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    memberships = client.get("/administration/studies/MINI/memberships/").content.decode()
    assert re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", memberships)


DATE_NAMES = re.compile(r"(_on|_date|date_last|earliest|latest|target|cutoff)$")


def test_every_template_shows_its_dates_through_the_day_filter() -> None:
    """A date printed another way ("|date:'d/m/Y'", or Django's default) would differ from the
    others on the same page."""
    wrong = []
    for template in sorted(TEMPLATES.rglob("templates/**/*.html")):
        text = template.read_text(encoding="utf-8")
        # A translated sentence's placeholders are its `with` values, read from the tag.
        text = re.sub(
            r"(\{%\s*blocktranslate[^%]*%\}).*?\{%\s*endblocktranslate\s*%\}",
            r"\1",
            text,
            flags=re.S,
        )
        shown = re.findall(r"\{\{\s*([^}]+?)\s*\}\}", text)
        shown += re.findall(r"\bwith\s+\w+=([\w.|:\"']+)", text)
        for expression in shown:
            value, *filters = expression.split("|")
            if DATE_NAMES.search(value.strip()) and not any(f.strip() == "day" for f in filters):
                wrong.append(f"{template.relative_to(TEMPLATES)}: {expression}")
    assert wrong == []
