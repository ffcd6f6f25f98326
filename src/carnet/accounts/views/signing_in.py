"""Pages of signing in: password, second factor, lockout, password links, enrolment, sign-out."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from carnet.accounts.browser_sessions import (
    client_address,
    next_after_sign_in,
    password_sign_in,
    second_factor_pending,
    second_factor_wait,
    sign_in_complete,
    sign_out,
    totp_enrol_finish,
)
from carnet.accounts.models import User
from carnet.accounts.selectors import enrolment_pending
from carnet.accounts.sign_in import (
    LockedOut,
    lockout_remaining,
    password_link_user,
    password_set_from_link,
    second_factor_verify,
    totp_enrol_start,
    totp_enrolment,
    two_factor_enrolled,
    two_factor_required,
)
from carnet.accounts.views.posted import posted_id
from carnet.core.errors import ValidationError


class SignInForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Password"), widget=forms.PasswordInput, max_length=256
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app, or a recovery code"), max_length=32
    )


class NewPasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("New password"), widget=forms.PasswordInput, max_length=256
    )
    again = forms.CharField(
        label=gettext_lazy("New password again"), widget=forms.PasswordInput, max_length=256
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") != data.get("again"):
            raise forms.ValidationError(_("The two passwords differ."))
        return data


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return reverse("web:home")


def _locked(
    request: HttpRequest, form: forms.Form, error: LockedOut, next_url: str = ""
) -> HttpResponse:
    response = render(
        request,
        "accounts/login.html",
        {"form": form, "locked": str(error), "next": next_url or reverse("web:home")},
        status=429,
    )
    response["Retry-After"] = str(error.retry_after)
    return response


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    """Ask for a user name and password.

    The page to go to next travels in the form, not in a session: an anonymous visit stores
    nothing (anyone can load this page as often as they like).
    """
    if request.method == "GET":
        next_url = _safe_next(request, request.GET.get("next"))
        return render(request, "accounts/login.html", {"form": SignInForm(), "next": next_url})
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = SignInForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=400)
    try:
        user = password_sign_in(
            request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
    except LockedOut as error:
        return _locked(request, form, error, next_url)
    if user is None:
        form.add_error(None, _("The user name or the password is wrong."))
        return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=400)
    if two_factor_enrolled(user):
        second_factor_wait(request, user=user, next_url=next_url)
        return HttpResponseRedirect(reverse("accounts:verify"))
    sign_in_complete(request, user=user)
    if two_factor_required(user):
        return HttpResponseRedirect(reverse("accounts:two_factor"))
    return HttpResponseRedirect(next_url)


@require_http_methods(["GET", "POST"])
def verify_page(request: HttpRequest) -> HttpResponse:
    """Ask for the second factor of someone whose password was right."""
    pending = second_factor_pending(request)
    if pending is None:
        return HttpResponseRedirect(reverse("accounts:login"))
    if request.method == "GET":
        return render(request, "accounts/verify.html", {"form": CodeForm()})
    form = CodeForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/verify.html", {"form": form}, status=400)
    remaining = lockout_remaining(pending.username)
    if remaining:
        return _locked(request, SignInForm(), LockedOut(remaining))
    device = second_factor_verify(
        user=pending, code=form.cleaned_data["code"], client=client_address(request)
    )
    if device is None:
        form.add_error("code", _("This code is wrong, expired or already used."))
        return render(request, "accounts/verify.html", {"form": form}, status=400)
    next_url = next_after_sign_in(request, reverse("web:home"))
    sign_in_complete(request, user=pending, device=device)
    return HttpResponseRedirect(next_url)


def lockout_response(
    request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    """What django-axes answers for a locked user name: the sign-in page, 429 and Retry-After."""
    username = (credentials or {}).get("username", "")
    return _locked(request, SignInForm(), LockedOut(lockout_remaining(username) or 900))


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    messages.info(request, _("You are signed out."))
    return HttpResponseRedirect(reverse("accounts:login"))


@require_http_methods(["GET", "POST"])
def password_set_page(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Let a new person (or one whose password was reset) choose a password from their link."""
    user = password_link_user(uidb64, token)
    if user is None:
        return render(request, "accounts/password_set.html", {"invalid": True}, status=400)
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_set_from_link(user=user, new=form.cleaned_data["password"])
        except ValidationError as error:
            form.add_error("password", str(error))
        else:
            messages.success(request, _("Your password is set; sign in with it."))
            return HttpResponseRedirect(reverse("accounts:login"))
    return render(
        request,
        "accounts/password_set.html",
        {"form": form, "username": user.username},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code, then a first code, then the recovery codes once."""
    user = request.user
    if not isinstance(user, User):
        return HttpResponseRedirect(reverse("accounts:login"))
    if two_factor_enrolled(user) and not user.is_verified():  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse("accounts:verify"))
    context: dict[str, Any] = {
        "enrolled": two_factor_enrolled(user),
        "required": two_factor_required(user),
    }
    if request.method == "POST":
        device = enrolment_pending(user, posted_id(request.POST.get("device")))
        form = CodeForm(request.POST)
        if device is None:
            return HttpResponseRedirect(reverse("accounts:two_factor"))
        if form.is_valid():
            try:
                codes = totp_enrol_finish(
                    request, user=user, device=device, code=form.cleaned_data["code"]
                )
            except ValidationError as error:
                form.add_error("code", str(error))
            else:
                return render(request, "accounts/recovery_codes.html", {"codes": codes})
        context.update(enrolment=totp_enrolment(device), form=form)
        return render(request, "accounts/two_factor.html", context, status=400)
    if "start" in request.GET or not context["enrolled"]:
        context.update(enrolment=totp_enrol_start(user=user), form=CodeForm())
    return render(request, "accounts/two_factor.html", context)
