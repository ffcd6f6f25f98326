"""Every page, walked in French and in English by the people who use them, shows none of
Carnet's own English on a French page and no catalogue artefact on an English one.

The walk follows every link a person's pages offer, from the study page down to the forms, as
a nurse, a monitor, a data manager and an administrator would. A French page
fails on any message of Carnet's catalogue (``locale/fr/LC_MESSAGES/django.po``) that appears
in English although French has its own words for it; an English page fails on a placeholder or
template tag left unfilled, and on French words of the catalogue shown to an English reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from babel.messages.pofile import read_po
from django.test import Client
from django.urls import Resolver404, resolve
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import form_save
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from carnet.subjects.services import (
    ConsentGiven,
    consent_withdraw,
    screening_entry_add,
    subject_change_treatment,
    subject_include,
    subject_settings_set,
)
from tests.accounts.personas import ADMIN, World, person, with_second_factor, world
from tests.web.helpers import PASSWORD, current_code

pytestmark = pytest.mark.django_db

CATALOGUE = (
    Path(__file__).resolve().parents[2] / "src/carnet/locale/fr/LC_MESSAGES/django.po"
).resolve()
TODAY = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)
# Never followed: they act (sign out, switch language) or are not pages (API, downloads).
NOT_PAGES = ("/logout/", "/api/", "/i18n/", "/static/", "/language/", "/redcap/")
# Text a page shows that is no message of Carnet's: identifiers, codes and names.
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "textarea"}
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
# Elements inside a sentence: their words run on with the words around them.
INLINE = {"a", "abbr", "b", "code", "em", "i", "small", "span", "strong", "time"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sd]")
MAX_PAGES = 120


# --- the catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    english: str
    pattern: re.Pattern[str]

    @property
    def clue(self) -> str:
        """Return the longest run of the message's own words: a page without it cannot show
        the message, whatever fills the placeholders (a quick test before the pattern)."""
        return max((" ".join(p.split()) for p in PLACEHOLDER.split(self.english)), key=len)

    def found_in(self, text: str) -> bool:
        return self.clue in text and self.pattern.search(text) is not None


def _pattern(text: str) -> re.Pattern[str] | None:
    """Return a pattern finding the message in a page's text, placeholders filled by anything;
    None when the message's own words are too few to tell it from other text."""
    parts = PLACEHOLDER.split(text)
    words = [w for part in parts for w in re.findall(r"[A-Za-z]{2,}", part)]
    if not words or (len(parts) > 1 and len(words) < 2):
        return None
    literal = r"\S.*?".join(r"\s+".join(map(re.escape, part.split())) for part in parts)
    return re.compile(rf"(?<![\w-]){literal}(?![\w-])")


@cache
def catalogue() -> tuple[list[Message], list[Message]]:
    """Return the English messages French translates differently, and the French translations
    of several words that differ from their English."""
    with CATALOGUE.open("rb") as handle:
        po = read_po(handle, locale="fr")
    english: list[Message] = []
    french: list[Message] = []
    # English words French also uses for something else ("Centre" is a site in French).
    translations = "\n".join(
        text
        for message in po
        for text in (message.string if isinstance(message.string, tuple) else (message.string,))
    )
    for message in po:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for source, translation in zip(ids, strings, strict=False):
            if not translation or source == translation:
                continue
            found = _pattern(source)
            if found is not None and not Message(source, found).found_in(translations):
                english.append(Message(source, found))
            shown = _pattern(translation)
            if shown is not None and len(translation.split()) >= 3:
                french.append(Message(translation, shown))
    return english, french


# --- the pages ------------------------------------------------------------------------------


class PageText(HTMLParser):
    """The words a reader sees (and a screen reader says), and the links they may follow."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        # HTML's translate="no" marks what is data, not words of Carnet (a name, a stored value).
        if tag in SKIPPED_ELEMENTS or values.get("translate") == "no":
            self._skipping.append(tag)
        # Said by screen readers, shown as tooltips: each on a line of its own.
        self.chunks.extend(f"\n{values[name]}\n" for name in SHOWN_ATTRIBUTES if values.get(name))
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.chunks.append(f"\n{values['value']}\n")
        self.chunks.append("" if tag in INLINE else "\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()
        self.chunks.append("" if tag in INLINE else "\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(" ".join(data.split("\n")))  # a template's own line breaks

    def lines(self) -> list[str]:
        return [" ".join(line.split()) for line in "".join(self.chunks).split("\n") if line.strip()]


def english_left_on(lines: list[str]) -> list[str]:
    english, _french = catalogue()
    text = "\n".join(lines)
    present = [message for message in english if message.clue in text]
    found = []
    for line in lines:
        matched = [message.english for message in present if message.found_in(line)]
        # A message inside a longer one found on the same line is that one's words ("Sign" in
        # "Sign out"): the longer message is the one left in English.
        found += [
            f"{words!r} in {line!r}"
            for words in matched
            if not any(words != longer and words in longer for longer in matched)
        ]
    return found


def artefacts_on(lines: list[str]) -> list[str]:
    _english, french = catalogue()
    found = [
        f"unfilled {match.group()!r} in {line!r}"
        for line in lines
        for match in re.finditer(r"%\(\w+\)[sd]|\{\{|\{%|%}|\}\}|msgid|msgctxt", line)
    ]
    text = "\n".join(lines)
    found += [
        f"French {message.english!r} in {line!r}"
        for message in french
        if message.clue in text
        for line in lines
        if message.found_in(line)
    ]
    return found


# Parts of an address that change no word of the page's own: each cycle's form reads like the
# first one's, each item's history like any other's.
SAME_WORDS = {"occurrence", "event", "item", "group"}
# Pages whose words do not depend on the subject either.
ANY_SUBJECT = {"capture:history", "capture:row_new"}


def _key(url: str) -> tuple[str, ...]:
    """One visit per page and kind of query: ?sort=a and ?sort=b show the same words."""
    parts = urlsplit(url)
    try:
        match = resolve(parts.path)
    except Resolver404:
        return (parts.path,)
    kept = {k: v for k, v in match.kwargs.items() if k not in SAME_WORDS}
    if match.view_name in ANY_SUBJECT:
        kept.pop("subject", None)
    query = sorted({name for name, _value in parse_qsl(parts.query)} - {"row", "repeat"})
    return (match.view_name, *(f"{k}={v}" for k, v in sorted(kept.items())), *query)


@dataclass
class Walk:
    visited: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def walk(client: Client, starts: list[str], check: Any, *, skip: tuple[str, ...] = ()) -> Walk:
    """Visit every page reachable from ``starts`` by links (but ``skip``); check each page."""
    result = Walk()
    seen = {_key(url) for url in starts}
    queue = list(starts)
    while queue and len(result.visited) < MAX_PAGES:
        url = queue.pop(0)
        response = client.get(url)
        if response.status_code in {301, 302}:
            continue
        if "text/html" not in response.get("Content-Type", ""):
            continue
        result.visited.append(url)
        parser = PageText()
        parser.feed(response.content.decode())
        result.failures += [f"{url}: {problem}" for problem in check(parser.lines())]
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            if parts.path.startswith(NOT_PAGES + skip) or _key(link) in seen:
                continue
            seen.add(_key(link))
            queue.append(link)
    return result


# --- the study and its people ---------------------------------------------------------------


@dataclass
class Unit:
    w: World
    people: dict[str, User]


def unit() -> Unit:
    """Return MINI in production with three patients whose histories touch every status
    reason, a screening-log line, and the people who work on it."""
    w = world()
    subject_settings_set(
        actor=ADMIN, study=w.study, central_eligibility_review=False, identity_vault=True
    )
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    people = {
        "nurse": person("nina", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        "monitor": person("marc", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b]),
        "data manager": with_second_factor(person("dana", study=w.study, role=Role.DATA_MANAGER)),
        "administrator": with_second_factor(
            User.objects.create_superuser("ada", password=PASSWORD)
        ),
    }
    nurse = people["nurse"]
    subjects = [
        subject_include(
            actor=ADMIN,
            study=w.study,
            site=site,
            included_on=date(2025, 6, 2),
            eligibility={"weight": 72, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=date(2025, 6, 2)),
        )
        for site in (w.site_a, w.site_a, w.site_b)
    ]
    for subject in subjects[:2]:
        subject_change_treatment(
            actor=ADMIN, subject=subject, status="on_treatment", on=date(2025, 6, 3)
        )
    first, second = (Subject.objects.get(pk=s.pk) for s in subjects[:2])
    subject_change_treatment(
        actor=ADMIN, subject=first, status="off_treatment", on=date(2025, 7, 1), reason="toxicity"
    )
    consent_withdraw(actor=ADMIN, subject=second, kind="follow_up", withdrawn_on=date(2025, 7, 2))
    form_save(
        actor=nurse,
        subject=Subject.objects.get(pk=first.pk),
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 170, "sbp": 120, "dbp": 80, "vs_date": "2025-06-02"},
    )
    screening_entry_add(
        actor=nurse,
        study=w.study,
        site=w.site_a,
        screened_on=date(2025, 6, 20),
        age=61,
        sex="F",
        reason_not_included="Refused",
    )
    return Unit(w, people)


def signed_in(user: User, language: str) -> Client:
    """Return a browser signed in as the person (with their authenticator where they have
    one), reading in ``language``."""
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:300]
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        response = client.post("/login/verify/", {"code": current_code(device)})
        assert response.status_code == 302, response.content.decode()[:300]
    client.post("/language/", {"language": language, "next": "/"})
    return client


STARTS = [
    "/",
    "/account/",
    "/studies/MINI/",
    "/studies/MINI/subjects/",
    "/studies/MINI/screening-log/",
    "/studies/MINI/overdue/",
    "/studies/MINI/follow-up-campaign/",
    "/administration/",
    "/studies/NOPE/",  # a page that does not exist: the 404 page too
]
# What each walk must have reached, or it proves nothing.
REACHED = {
    "nurse": [
        "/studies/MINI/subjects/01-001/",
        "/studies/MINI/subjects/01-001/casebook/",
        "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/",
        "/studies/MINI/subjects/new/",
        "/studies/MINI/versions/1/",
    ],
    "monitor": ["/studies/MINI/subjects/02-001/"],
    "data manager": ["/studies/MINI/subjects/01-002/"],
    "administrator": ["/administration/users/", "/administration/studies/MINI/memberships/"],
}


@pytest.fixture
def walked_unit() -> Iterator[Unit]:
    with time_machine.travel(TODAY, tick=False):
        yield unit()


def _walk_as(unit: Unit, name: str, language: str, check: Any) -> Walk:
    client = signed_in(unit.people[name], language)
    # The enrolment of an authenticator (a QR code to draw) is read once, by the nurse.
    enrolment = "/account/two-factor/"
    if name == "nurse":
        result = walk(client, [*STARTS, enrolment], check)
    else:
        result = walk(client, STARTS, check, skip=(enrolment,))
    paths = {urlsplit(url).path for url in result.visited}
    missing = [page for page in REACHED[name] if page not in paths]
    assert not missing, f"{name} did not reach {missing}"
    return result


@pytest.mark.slow  # a hundred pages: a few seconds on a quiet machine
def test_no_french_page_shows_carnets_english(walked_unit: Unit) -> None:
    failures: list[str] = []
    anonymous = walk(Client(HTTP_ACCEPT_LANGUAGE="fr"), ["/", "/login/"], english_left_on)
    failures += anonymous.failures
    for name in REACHED:
        failures += _walk_as(walked_unit, name, "fr", english_left_on).failures
    assert failures == []


@pytest.mark.slow
def test_no_english_page_shows_a_catalogue_artefact(walked_unit: Unit) -> None:
    failures: list[str] = []
    for name in ("nurse", "data manager"):
        failures += _walk_as(walked_unit, name, "en", artefacts_on).failures
    assert failures == []


# --- the checker itself ---------------------------------------------------------------------


def lines_of(html: str) -> list[str]:
    parser = PageText()
    parser.feed(html)
    return parser.lines()


def test_the_checker_finds_english_words_of_the_catalogue_on_a_page() -> None:
    page = '<p>Mode : production</p><button aria-label="Sign out">x</button><code>Sign out</code>'
    assert english_left_on(lines_of(page)) == ["'Sign out' in 'Sign out'"]
    # A message with placeholders is found with whatever fills them.
    overdue = "<td><strong>3 overdue visits</strong></td>"
    assert any("overdue visit" in found for found in english_left_on(lines_of(overdue)))
    assert english_left_on(lines_of("<p>Se déconnecter</p>")) == []


def test_the_checker_finds_french_and_unfilled_placeholders_on_an_english_page() -> None:
    assert artefacts_on(lines_of("<p>Hello %(name)s</p>")) == [
        "unfilled '%(name)s' in 'Hello %(name)s'"
    ]
    assert artefacts_on(lines_of("<p>Une erreur est survenue de notre côté.</p>"))
    assert artefacts_on(lines_of("<p>Something went wrong on our side.</p>")) == []


def test_it_skips_what_the_page_marks_as_not_to_translate() -> None:
    page = '<table><tr><td translate="no">test administrator</td><td>Sign out</td></tr></table>'
    assert english_left_on(lines_of(page)) == ["'Sign out' in 'Sign out'"]


def test_it_reads_only_what_a_person_sees() -> None:
    lines = lines_of("<script>var a = 'Sign out';</script><p>Bonjour <strong>vous</strong></p>")
    assert lines == ["Bonjour vous"]


# --- what issue 14 saw left in English ------------------------------------------------------


def french_lines(unit: Unit, name: str, page: str) -> list[str]:
    response = signed_in(unit.people[name], "fr").get(page)
    assert response.status_code == 200, page
    return lines_of(response.content.decode())


def contains(lines: list[str], run: list[str]) -> bool:
    """Return whether the page shows these lines one after the other (a row of a table…)."""
    return any(lines[i : i + len(run)] == run for i in range(len(lines)))


def test_the_study_page_says_its_mode_version_and_schedule_in_french(walked_unit: Unit) -> None:
    lines = french_lines(walked_unit, "data manager", "/studies/MINI/")
    assert "MINI — Petite étude" in lines
    assert (
        "Mode : production · version 1 (publiée) · phase II · Institut du Cancer de Montpellier"
        in lines
    )
    assert contains(
        lines,
        [
            "Inclusion",
            "à l'inclusion, fenêtre -7/+0 jours",
            "Cycle",
            "jour +14 à compter de l'événement baseline, fenêtre -2/+3 jours ; puis tous les 14 "
            "jours à compter de la date réelle de l'occurrence précédente",
            "Événements indésirables",
            "non programmé",
        ],
    )
    assert contains(lines, ["Passer en", "gelé"])  # the modes it may move to, in French
    assert contains(lines, ["1", "publiée"])  # the versions
    # The header names the data manager's role in French.
    assert "MINI : Gestionnaire de données · tous les centres" in lines


def test_a_subjects_status_history_gives_its_reasons_in_french(walked_unit: Unit) -> None:
    stopped = french_lines(walked_unit, "nurse", "/studies/MINI/subjects/01-001/")
    assert contains(
        stopped, ["traitement", "traitement arrêté", "2025-07-01", "toxicité inacceptable"]
    )
    assert contains(stopped, ["étude", "en suivi", "2025-07-01", "arrêt du traitement"])
    assert "traitement arrêté (depuis le 2025-07-01 : toxicité inacceptable)" in stopped
    withdrawn = french_lines(walked_unit, "nurse", "/studies/MINI/subjects/01-002/")
    assert contains(
        withdrawn, ["étude", "retiré", "2025-07-02", "retrait du consentement au suivi"]
    )


def test_the_home_page_gives_the_title_of_a_study_in_french(walked_unit: Unit) -> None:
    lines = french_lines(walked_unit, "nurse", "/")
    assert contains(lines, ["MINI", "Petite étude", "production"])
