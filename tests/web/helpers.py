"""Signing people in through the real pages, as a browser would."""

from __future__ import annotations

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "a long test password"


def sign_in(client: Client, username: str, password: str = PASSWORD) -> int:
    response = client.post("/login/", {"username": username, "password": password})
    return response.status_code


def current_code(device: TOTPDevice, *, steps_back: int = 0) -> str:
    """Return the code an authenticator app shows now (or ``steps_back`` periods ago)."""
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=-steps_back
    )
    return f"{code:06d}"


def enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    """Enrol an authenticator for the signed-in person; return the device and recovery codes."""
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    device = TOTPDevice.objects.filter(confirmed=False).latest("id")
    response = client.post(
        "/account/two-factor/", {"device": device.pk, "code": current_code(device)}
    )
    assert response.status_code == 200, response.content.decode()[:500]
    codes = response.context["codes"]
    device.refresh_from_db()
    return device, codes


def administrator_client(username: str = "root-admin") -> Client:
    """Return a client signed in as a system administrator who passed the second factor."""
    from tests.accounts.factories import UserFactory

    admin = UserFactory.create(username=username, password=PASSWORD, is_administrator=True)
    client = Client()
    assert sign_in(client, admin.username) == 302
    enrol(client)
    return client
