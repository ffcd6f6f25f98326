"""Administration pages: centres, study sites, accounts, memberships, tokens and lockouts.

Only system administrators reach them. Every form calls the same services as the `carnet`
command, so a change made here is checked and audited exactly as one made on the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.selectors import (
    active_users_list,
    administration_counts,
    centres_list,
    centres_outside,
    delegation_log,
    delegation_log_line,
    live_token,
    study_sites,
    tokens_list,
    users_list,
)
from carnet.accounts.services import (
    centre_add,
    centre_get,
    role_grant,
    role_revoke,
    site_activate,
    site_add,
    site_get,
    token_revoke,
    user_create,
    user_deactivate,
    user_get,
)
from carnet.accounts.sign_in import lockout_lift, lockouts_list, password_setting_link
from carnet.accounts.views.posted import posted_id
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError, ValidationError
from carnet.studies.selectors import studies_list, study_get

View = Callable[..., HttpResponse]


def administrators_only(view: View) -> View:
    """Let only active system administrators in; everyone else meets a plain 404."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or not user.is_active or not user.is_superuser:
            if not user.is_authenticated:
                return HttpResponseRedirect(f"{reverse('accounts:login')}?next={request.path}")
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return guarded


def _admin(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _date(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{field}: {value!r} is not a date like 2026-11-22.") from None


class _Refusals:
    """Turn a refused service call into a message on the next page, as a `with` block."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> bool:
        if isinstance(error, CarnetError):
            messages.error(self.request, str(error))
            return True
        return False


@administrators_only
def overview_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/administration/overview.html",
        {
            **asdict(administration_counts()),
            "lockouts": len(lockouts_list()),
        },
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def centres_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        with _Refusals(request):
            centre = centre_add(
                actor=_admin(request),
                code=request.POST.get("code", ""),
                name=request.POST.get("name", ""),
                city=request.POST.get("city", ""),
                time_zone=request.POST.get("time_zone", "Europe/Paris"),
            )
            messages.success(request, _("Centre %(code)s added.") % {"code": centre.code})
        return HttpResponseRedirect(reverse("accounts:admin_centres"))
    return render(
        request,
        "accounts/administration/centres.html",
        {"centres": centres_list()},
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def sites_page(request: HttpRequest, identifier: str) -> HttpResponse:
    try:
        study = study_get(identifier)
    except CarnetError as error:
        raise Http404(str(error)) from error
    admin = _admin(request)
    if request.method == "POST":
        with _Refusals(request):
            if request.POST.get("action") == "activate":
                site = site_activate(
                    actor=admin,
                    site=site_get(study, request.POST.get("site", "")),
                    on=_date(request.POST.get("date", ""), _("Activation date")) or utc_today(),
                )
                messages.success(
                    request,
                    _("Site %(code)s is active from %(date)s.")
                    % {"code": site.code, "date": site.activated_on},
                )
            else:
                site = site_add(
                    actor=admin,
                    study=study,
                    centre=centre_get(request.POST.get("centre", "")),
                    code=request.POST.get("code") or None,
                )
                messages.success(
                    request,
                    _("%(centre)s is site %(code)s.")
                    % {"centre": site.centre.code, "code": site.code},
                )
        return HttpResponseRedirect(reverse("accounts:admin_sites", args=[identifier]))
    return render(
        request,
        "accounts/administration/sites.html",
        {
            "study": study,
            "sites": study_sites(study),
            "centres": centres_outside(study),
        },
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def users_page(request: HttpRequest) -> HttpResponse:
    link = ""
    if request.method == "POST":
        try:
            user = user_create(
                actor=_admin(request),
                username=request.POST.get("username", ""),
                password=None,
                email=request.POST.get("email", ""),
                full_name=request.POST.get("full_name", ""),
            )
        except CarnetError as error:
            messages.error(request, str(error))
        else:
            link = request.build_absolute_uri(password_setting_link(user))
            messages.success(
                request, _("Account %(username)s created.") % {"username": user.username}
            )
    return render(
        request,
        "accounts/administration/users.html",
        {
            "users": users_list(),
            "link": link,
        },
    )


@administrators_only
@require_POST
def user_action_page(request: HttpRequest, username: str) -> HttpResponse:
    admin = _admin(request)
    try:
        user = user_get(username)
    except CarnetError as error:
        raise Http404(str(error)) from error
    if request.POST.get("action") == "deactivate":
        with _Refusals(request):
            user_deactivate(actor=admin, user=user, reason=request.POST.get("reason", ""))
            messages.success(
                request, _("Account %(username)s deactivated.") % {"username": user.username}
            )
        return HttpResponseRedirect(reverse("accounts:admin_users"))
    link = request.build_absolute_uri(password_setting_link(user))
    return render(
        request,
        "accounts/administration/users.html",
        {
            "users": users_list(),
            "link": link,
            "link_for": user.username,
        },
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def memberships_page(request: HttpRequest, identifier: str) -> HttpResponse:
    try:
        study = study_get(identifier)
    except CarnetError as error:
        raise Http404(str(error)) from error
    admin = _admin(request)
    if request.method == "POST":
        with _Refusals(request):
            if request.POST.get("action") == "revoke":
                membership = delegation_log_line(study, posted_id(request.POST.get("membership")))
                if membership is None:
                    raise ValidationError(_("Choose a line of the delegation log."))
                ended = role_revoke(
                    actor=admin,
                    user=membership.user,
                    study=study,
                    site=membership.site,
                    role=membership.role,
                    # No date: the role ends now, not at midnight.
                    on=_date(request.POST.get("on", ""), _("End date")),
                    reason=request.POST.get("reason", ""),
                )
                messages.success(request, _("The role ends on %(date)s.") % {"date": ended.ends_on})
            else:
                reference = request.POST.get("site", "all")
                granted = role_grant(
                    actor=admin,
                    user=user_get(request.POST.get("username", "")),
                    study=study,
                    site=None if reference == "all" else site_get(study, reference),
                    role=request.POST.get("role", ""),
                    starts_on=_date(request.POST.get("starts_on", ""), _("Start date"))
                    or utc_today(),
                    ends_on=_date(request.POST.get("ends_on", ""), _("End date")),
                )
                messages.success(
                    request,
                    _("%(username)s is now %(role)s.")
                    % {"username": granted.user.username, "role": granted.get_role_display()},
                )
        return HttpResponseRedirect(reverse("accounts:admin_memberships", args=[identifier]))
    return render(
        request,
        "accounts/administration/memberships.html",
        {
            "study": study,
            "memberships": delegation_log(study),
            "roles": Role.choices,
            "sites": study_sites(study),
            "users": active_users_list(),
            "today": utc_today(),
        },
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        token = live_token(posted_id(request.POST.get("token")))
        if token is not None:
            with _Refusals(request):
                token_revoke(
                    actor=_admin(request), token=token, reason=request.POST.get("reason", "")
                )
                messages.success(
                    request, _("Token %(prefix)s… revoked.") % {"prefix": token.prefix}
                )
        return HttpResponseRedirect(reverse("accounts:admin_tokens"))
    return render(
        request,
        "accounts/administration/tokens.html",
        {
            "tokens": tokens_list(),
        },
    )


@administrators_only
@require_http_methods(["GET", "POST"])
def lockouts_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        username = request.POST.get("username", "")
        with _Refusals(request):
            lockout_lift(
                actor=_admin(request), username=username, reason=request.POST.get("reason", "")
            )
            messages.success(
                request, _("The lock on %(username)s is lifted.") % {"username": username}
            )
        return HttpResponseRedirect(reverse("accounts:admin_lockouts"))
    return render(request, "accounts/administration/lockouts.html", {"lockouts": lockouts_list()})


@administrators_only
def studies_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/administration/studies.html",
        {"studies": studies_list()},
    )
