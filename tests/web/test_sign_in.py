"""Signing in: passwords, lockouts, TOTP and recovery codes; every failure audited, no leaks."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import UserSession
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.audit.models import AuditEvent
from carnet.core.clock import utc_now
from tests.accounts.personas import ADMIN, person, world
from tests.web.helpers import PASSWORD, administrator_client, current_code, enrol, sign_in

pytestmark = pytest.mark.django_db


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_a_wrong_password_is_refused_without_saying_whether_the_account_exists(
    client: Client,
) -> None:
    person("alice")
    wrong = client.post("/login/", {"username": "alice", "password": "not the password"})
    unknown = client.post("/login/", {"username": "nobody-here", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 400
    message = "The user name or the password is wrong."
    assert message in wrong.content.decode()
    assert message in unknown.content.decode()
    assert actions().count("login.failed") == 2


def test_a_good_password_signs_in_and_is_audited(client: Client) -> None:
    person("bruno")
    assert sign_in(client, "bruno") == 302
    assert client.get("/").context["user"].username == "bruno"
    event = AuditEvent.objects.get(action="login.succeeded")
    assert event.new == {"second_factor": "none"}


def test_five_failures_lock_the_account_and_the_sixth_attempt_is_refused_even_with_the_password(
    client: Client,
) -> None:
    person("chloe")
    statuses = [
        client.post("/login/", {"username": "chloe", "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert statuses == [400, 400, 400, 400, 429]
    right = client.post("/login/", {"username": "chloe", "password": PASSWORD})
    assert right.status_code == 429
    assert int(right["Retry-After"]) > 800
    assert "sign-in is paused" in right.content.decode()
    assert "login.locked" in actions()
    assert "login.refused_locked" in actions()


def test_an_unknown_user_name_is_locked_the_same_way(client: Client) -> None:
    for _ in range(5):
        last = client.post("/login/", {"username": "ghost", "password": "wrong"})
    assert last.status_code == 429
    assert "sign-in is paused" in last.content.decode()


def test_the_lock_ends_by_itself_after_fifteen_minutes(client: Client) -> None:
    person("dora")
    for _ in range(5):
        client.post("/login/", {"username": "dora", "password": "wrong"})
    with time_machine.travel(utc_now().timestamp() + 16 * 60, tick=False):
        assert sign_in(Client(), "dora") == 302


def test_an_administrator_sees_and_lifts_a_lock(client: Client) -> None:
    person("emile")
    for _ in range(5):
        client.post("/login/", {"username": "emile", "password": "wrong"})
    admin_client = administrator_client()
    page = admin_client.get("/administration/lockouts/")
    assert "emile" in page.content.decode()
    lifted = admin_client.post(
        "/administration/lockouts/", {"username": "emile", "reason": "called the helpdesk"}
    )
    assert lifted.status_code == 302
    assert sign_in(Client(), "emile") == 302
    event = AuditEvent.objects.get(action="login.unlocked")
    assert event.reason == "called the helpdesk"


def test_a_locked_name_leaves_the_accounts_tokens_working_during_the_lock(
    client: Client,
) -> None:
    # Issue 15: the lock once reached the tokens too (429), so anyone could stop a site's
    # scripts by typing five wrong passwords. A token is a credential of its own.
    w = world()
    user = person("fanny", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    _token, key = token_create(actor=ADMIN, user=user, study=w.study)
    for _ in range(5):
        client.post("/login/", {"username": "fanny", "password": "wrong"})
    assert sign_in(Client(), "fanny") == 429
    response = Client().get("/api/me", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json()["username"] == "fanny"


def test_totp_is_asked_after_the_password_and_a_code_works_once(client: Client) -> None:
    person("gaspard")
    sign_in(client, "gaspard")
    device, _codes = enrol(client)
    client.post("/logout/")
    assert (
        client.post("/login/", {"username": "gaspard", "password": PASSWORD})["Location"]
        == "/login/verify/"
    )
    assert client.get("/account/").status_code == 302  # not signed in yet
    with time_machine.travel(utc_now().timestamp() + 60, tick=False):
        code = current_code(device)
        assert client.post("/login/verify/", {"code": code}).status_code == 302
        assert client.get("/account/").status_code == 200
        other = Client()
        sign_in(other, "gaspard")
        reused = other.post("/login/verify/", {"code": code})
        assert reused.status_code == 400
        assert "wrong, expired or already used" in reused.content.decode()
    assert "login.second_factor_failed" in actions()


def test_an_expired_totp_code_is_refused(client: Client) -> None:
    person("hana")
    sign_in(client, "hana")
    device, _codes = enrol(client)
    client.post("/logout/")
    sign_in(client, "hana")
    old = current_code(device, steps_back=10)  # five minutes ago
    assert client.post("/login/verify/", {"code": old}).status_code == 400


def test_a_recovery_code_works_once(client: Client) -> None:
    person("ines")
    sign_in(client, "ines")
    _device, codes = enrol(client)
    assert len(codes) == 10
    client.post("/logout/")
    sign_in(client, "ines")
    assert client.post("/login/verify/", {"code": codes[0]}).status_code == 302
    client.post("/logout/")
    sign_in(client, "ines")
    assert client.post("/login/verify/", {"code": codes[0]}).status_code == 400
    assert "login.recovery_code_used" in actions()


def test_roles_that_need_a_second_factor_must_enrol_before_anything_else(client: Client) -> None:
    w = world()
    person("jade", study=w.study, role=Role.DATA_MANAGER)
    response = client.post("/login/", {"username": "jade", "password": PASSWORD})
    assert response["Location"] == "/account/two-factor/"
    assert client.get("/studies/MINI/")["Location"] == "/account/two-factor/"
    assert client.get("/api/me").status_code == 403
    enrol(client)
    assert client.get("/studies/MINI/").status_code == 200


def test_a_blinded_site_role_may_sign_in_without_a_second_factor(client: Client) -> None:
    w = world()
    person("karl", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    assert client.post("/login/", {"username": "karl", "password": PASSWORD})["Location"] == "/"
    assert client.get("/studies/MINI/").status_code == 200


def test_an_enrolment_needs_a_right_first_code(client: Client) -> None:
    person("lena")
    sign_in(client, "lena")
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(confirmed=False)
    refused = client.post("/account/two-factor/", {"device": device.pk, "code": "000000"})
    assert refused.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed


def test_a_study_can_require_a_second_factor_of_more_roles(client: Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from carnet.studies.definition import study_file_read
    from carnet.studies.services import study_load, study_publish
    from tests.accounts.personas import FIXTURE

    w = world()
    amended = tmp_path / "mini.yaml"
    amended.write_text(
        FIXTURE.read_text().replace(
            "  phase: II\n", "  phase: II\n  two_factor_roles: [data_entry]\n"
        )
    )
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    person("mona", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    assert (
        client.post("/login/", {"username": "mona", "password": PASSWORD})["Location"]
        == "/account/two-factor/"
    )


def test_a_typed_name_that_is_no_account_is_kept_only_as_a_keyed_hash(client: Client) -> None:
    # People type their password into the user name field; the audit trail keeps it for ever.
    typed = "Tr0ub4dor-and-3"
    for _ in range(5):
        client.post("/login/", {"username": typed, "password": "wrong"})
    client.post("/login/", {"username": typed, "password": "wrong"})
    events = AuditEvent.objects.filter(action__startswith="login.")
    assert {"login.failed", "login.locked", "login.refused_locked"} <= {e.action for e in events}
    for event in events:
        assert typed not in f"{event.target_id} {event.actor_label} {event.old} {event.new}"
        assert typed.lower() not in event.target_id.lower()
        assert event.target_type == "accounts.unknown_user_name"
        assert event.target_id.startswith("hmac-sha256:")
    # The same name always gives the same hash: repeated attempts are still visible as such.
    assert len({e.target_id for e in events}) == 1


def test_a_failed_sign_in_on_an_existing_account_names_the_account(client: Client) -> None:
    alice = person("alice")
    client.post("/login/", {"username": "alice", "password": "wrong"})
    event = AuditEvent.objects.get(action="login.failed")
    assert (event.target_type, event.target_id) == ("accounts.user", str(alice.pk))


@override_settings(CARNET_ADDRESS_FAILURE_LIMIT=6)
def test_an_address_that_fails_too_often_is_paused_without_locking_any_account() -> None:
    w = world()
    gilles = person("gilles", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    _token, key = token_create(actor=ADMIN, user=gilles, study=w.study)
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    # Six names, one wrong password each: no name reaches its own limit of five.
    for name in ("ana", "ben", "carl", "dina", "ed", "gilles"):
        assert guesser.post("/login/", {"username": name, "password": "x"}).status_code == 400
    paused = guesser.post("/login/", {"username": "gilles", "password": PASSWORD})
    assert paused.status_code == 429
    assert int(paused["Retry-After"]) > 800
    assert "sign-in is paused" in paused.content.decode()
    assert "login.refused_address" in actions()
    # The account is not locked: Gilles signs in from his own desk, and his token works.
    assert sign_in(Client(REMOTE_ADDR="192.0.2.20"), "gilles") == 302
    assert Client().get("/api/me", headers={"authorization": f"Bearer {key}"}).status_code == 200
    with time_machine.travel(utc_now().timestamp() + 16 * 60, tick=False):
        assert sign_in(guesser, "gilles") == 302


@override_settings(CARNET_ADDRESS_FAILURE_LIMIT=3)
def test_without_a_declared_proxy_a_forwarded_address_is_not_believed() -> None:
    for n in range(3):
        Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").post(
            "/login/", {"username": f"name{n}", "password": "x"}
        )
    person("hugo")
    forged = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert sign_in(forged, "hugo") == 429


@override_settings(CARNET_ADDRESS_FAILURE_LIMIT=3, CARNET_TRUSTED_PROXIES=["10.0.0.0/30"])
def test_behind_a_declared_proxy_the_clients_own_address_counts() -> None:
    person("ilse")
    # Two people behind the same proxy: one fails three times, the other signs in.
    for n in range(3):
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7").post(
            "/login/", {"username": f"name{n}", "password": "x"}
        )
    guesser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert sign_in(guesser, "ilse") == 429
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert sign_in(colleague, "ilse") == 302
    assert UserSession.objects.get(end_reason="").ip_address == "198.51.100.8"
    failed = AuditEvent.objects.filter(action="login.failed").first()
    assert failed is not None
    assert failed.actor_label == "sign-in from 198.51.100.7"
