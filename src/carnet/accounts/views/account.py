"""My account: language, password, second factor, sessions and API tokens."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.accounts.browser_sessions import other_sessions_end, password_change_here
from carnet.accounts.models import User
from carnet.accounts.selectors import my_live_token, my_studies, my_study, my_tokens
from carnet.accounts.services import token_create, token_revoke, user_language_set
from carnet.accounts.sign_in import (
    recovery_codes_left,
    recovery_codes_regenerate,
    sessions_live,
    two_factor_enrolled,
    two_factor_required,
)
from carnet.core.errors import CarnetError


class PasswordChangeForm(forms.Form):
    current = forms.CharField(label=gettext_lazy("Current password"), widget=forms.PasswordInput)
    new = forms.CharField(label=gettext_lazy("New password"), widget=forms.PasswordInput)
    again = forms.CharField(label=gettext_lazy("New password again"), widget=forms.PasswordInput)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(
    request: HttpRequest,
    *,
    password_form: PasswordChangeForm | None = None,
    new_token: str = "",
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "accounts/account.html",
        {
            "languages": settings.LANGUAGES,
            "password_form": password_form or PasswordChangeForm(),
            "enrolled": two_factor_enrolled(user),
            "required": two_factor_required(user),
            "codes_left": recovery_codes_left(user),
            "sessions": sessions_live(user),
            "current_session": request.session.session_key,
            "tokens": my_tokens(user),
            "token_studies": my_studies(user),
            "new_token": new_token,
        },
        status=status,
    )


@login_required
def account_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
def language_page(request: HttpRequest) -> HttpResponse:
    """Switch language; a signed-in person keeps the choice in their account."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next", "")
    # Only a path of this site: "//host/…" is another site's address.
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = reverse("web:home")
    response = HttpResponseRedirect(next_url)
    if language in dict(settings.LANGUAGES):
        if isinstance(request.user, User):
            user_language_set(user=request.user, language=language)
        translation.activate(language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            httponly=True,
            secure=request.is_secure(),
        )
    return response


@login_required
@require_POST
def password_page(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST)
    if form.is_valid():
        if form.cleaned_data["new"] != form.cleaned_data["again"]:
            form.add_error("again", _("The two passwords differ."))
        else:
            try:
                ended = password_change_here(
                    request,
                    user=_user(request),
                    current=form.cleaned_data["current"],
                    new=form.cleaned_data["new"],
                )
            except CarnetError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request,
                    _("Your password is changed; %(count)s other session(s) ended.")
                    % {"count": ended},
                )
                return HttpResponseRedirect(reverse("accounts:account"))
    return _page(request, password_form=form, status=400)


@login_required
@require_POST
def sessions_end_page(request: HttpRequest) -> HttpResponse:
    ended = other_sessions_end(request, user=_user(request), reason="ended by the user")
    messages.success(request, _("%(count)s other session(s) ended.") % {"count": ended})
    return HttpResponseRedirect(reverse("accounts:account"))


@login_required
@require_POST
def recovery_codes_page(request: HttpRequest) -> HttpResponse:
    try:
        codes = recovery_codes_regenerate(user=_user(request))
    except CarnetError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(reverse("accounts:account"))
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
def token_create_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    study = my_study(user, request.POST.get("study", ""))
    if study is None:
        messages.error(request, _("Choose one of your studies."))
        return HttpResponseRedirect(reverse("accounts:account"))
    try:
        _token, key = token_create(
            actor=user, user=user, study=study, label=request.POST.get("label", "")
        )
    except CarnetError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(reverse("accounts:account"))
    return _page(request, new_token=key)


@login_required
@require_POST
def token_revoke_page(request: HttpRequest, token_id: int) -> HttpResponse:
    user = _user(request)
    token = my_live_token(user, token_id)
    if token is not None:
        token_revoke(actor=user, token=token, reason="revoked by its owner")
        messages.success(request, _("The token is revoked."))
    return HttpResponseRedirect(reverse("accounts:account"))
