"""Request-wide guards: security headers, idle sessions, the second factor, the user's language."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from carnet.accounts.browser_sessions import session_activity
from carnet.accounts.models import User
from carnet.accounts.permissions import permissions_remembered
from carnet.accounts.sign_in import two_factor_enrolled, two_factor_required
from carnet.subjects.environments import SESSION_KEY, session_test_view, test_view

Handler = Callable[[HttpRequest], HttpResponse]

# No inline script or style anywhere: everything comes from our own static files.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _second_factor_open() -> tuple[str, ...]:
    """Return the paths (and what lies under them) that a person who still owes a second
    factor may reach: signing in and out, enrolling, the language, static files, health."""
    return (
        reverse("accounts:login"),  # with login/verify/ under it
        reverse("accounts:logout"),
        reverse("accounts:two_factor"),  # with its recovery codes under it
        settings.STATIC_URL,
        reverse("set_language"),
        reverse("accounts:language"),
        reverse("web:health"),
        reverse("favicon"),
    )


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


class NoStoreMiddleware:
    """Tell browsers and proxies to store no copy of a signed-in page or of any API answer.

    Clinical data must not stay in a shared computer's browser cache or a hospital proxy after
    the session ends. Static files (served before this runs) stay cacheable.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if _is_api(request) or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response


class PermissionsRememberedMiddleware:
    """Read each person's roles in a study once per request, however often they are asked."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with permissions_remembered():
            return self.get_response(request)


def _is_api(request: HttpRequest) -> bool:
    # The API's mount point (config/urls.py): ninja names none of its own addresses "root".
    return request.path.startswith("/api/")


class TestViewMiddleware:
    """Honour a request for a study's test data: the page's switch, or the API's
    ``?environment=test`` (the API never follows the browser's switch, so a script reads test
    data only when it asks). What the person then sees is decided by the subjects' selectors."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_api(request):
            asked = request.GET.get("environment", "production")
            if asked not in {"production", "test"}:
                return JsonResponse(
                    {
                        "type": "about:blank",
                        "title": "Bad Request",
                        "status": 400,
                        "detail": _("environment: %(value)s is not test or production.")
                        % {"value": repr(asked)},
                        "instance": request.path,
                    },
                    status=400,
                    content_type="application/problem+json",
                )
            if asked == "production":
                return self.get_response(request)
            with test_view():
                return self.get_response(request)
        studies = session_test_view(request.session.get(SESSION_KEY))
        if not studies:
            return self.get_response(request)
        with test_view(*studies):
            return self.get_response(request)


class IdleSessionMiddleware:
    """End sessions left idle longer than the `session_idle_minutes` setting."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not session_activity(request):
            if _is_api(request) or request.headers.get("HX-Request"):
                return JsonResponse(
                    {
                        "type": "about:blank",
                        "title": "Unauthorized",
                        "status": 401,
                        "detail": "The session ended after a period without activity.",
                    },
                    status=401,
                    content_type="application/problem+json",
                )
            messages.info(
                request,
                _("Your session ended after a period without activity; please sign in again."),
            )
            return HttpResponseRedirect(
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
            )
        return self.get_response(request)


class SecondFactorMiddleware:
    """Hold a signed-in person at the second-factor step until they pass it (or enrol)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            isinstance(user, User)
            and not user.is_verified()  # type: ignore[attr-defined]
            and not request.path.startswith(_second_factor_open())
            and not getattr(request, "api_token", None)
        ):
            if two_factor_enrolled(user):
                target = reverse("accounts:verify")
            elif two_factor_required(user):
                target = reverse("accounts:two_factor")
            else:
                return self.get_response(request)
            if _is_api(request):
                return JsonResponse(
                    {
                        "type": "about:blank",
                        "title": "Forbidden",
                        "status": 403,
                        "detail": "Complete the second sign-in step first.",
                    },
                    status=403,
                    content_type="application/problem+json",
                )
            return HttpResponseRedirect(target)
        return self.get_response(request)


class UserLanguageMiddleware:
    """Speak the signed-in person's language, chosen once and remembered in their account."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if isinstance(user, User) and user.language in dict(settings.LANGUAGES):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


NUL = "\x00"


def _shown(name: str) -> str:
    return name.replace(NUL, "\\0")


def _nul_in(value: Any, location: str) -> str | None:
    """Return where in a decoded JSON body a text holds a NUL character, or None."""
    if isinstance(value, str):
        return location if NUL in value else None
    if isinstance(value, dict):
        for key, element in value.items():
            place = f"{location}.{_shown(key)}"
            if NUL in key:
                return place
            found = _nul_in(element, place)
            if found:
                return found
    if isinstance(value, list):
        for index, element in enumerate(value):
            found = _nul_in(element, f"{location}.{index}")
            if found:
                return found
    return None


def _nul_location(request: HttpRequest) -> str | None:
    """Return where the request carries a NUL character (address, query, body field), or None.

    PostgreSQL refuses NUL in text (a 500 after the save had begun) and SQLite stores it: both
    databases must see the same refusal, before any view runs. Multipart bodies are left to
    their views: parsing them here would take the upload out of the view's own handlers.
    """
    if NUL in request.path:
        return "path"
    if "%00" in request.META.get("QUERY_STRING", ""):
        for key, values in request.GET.lists():
            if NUL in key or any(NUL in value for value in values):
                return f"query.{_shown(key)}"
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        # JSON writes NUL as \u0000 (a raw NUL byte is not JSON, and the parser refuses it).
        if b"\\u0000" in request.body:
            try:
                return _nul_in(json.loads(request.body), "body")
            except (ValueError, RecursionError):
                return None  # the API's own parser answers a body that is not JSON
    elif content_type == "application/x-www-form-urlencoded" and (
        b"%00" in request.body or NUL.encode() in request.body
    ):
        for key, values in request.POST.lists():
            if NUL in key or any(NUL in value for value in values):
                return _shown(key)
    return None


class RequestLimitsMiddleware:
    """Refuse, before any view reads it, a body too large to hold (413) or a NUL character (400).

    Django raised RequestDataTooBig wherever the body was first read (a 500 in the API, a bare
    400 in pages). Here the size a body announces is checked first; file uploads (multipart)
    have their own limit, checked as they are received.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit and request.content_type != "multipart/form-data":
            return self._too_large(request, length, limit)
        location = _nul_location(request)
        if location is not None:
            return self._nul(request, location)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest, length: int, limit: int) -> HttpResponse:
        if _is_api(request):
            return _problem(
                request,
                413,
                "Content Too Large",
                _(
                    "The request body is %(length)s bytes; at most %(limit)s are accepted here. "
                    "Nothing was written."
                )
                % {"length": length, "limit": limit},
            )
        return render(request, "413.html", {"limit_kb": limit // 1024}, status=413)

    @staticmethod
    def _nul(request: HttpRequest, location: str) -> HttpResponse:
        if _is_api(request):
            return _problem(
                request,
                400,
                "Bad Request",
                _("The request was refused; nothing was written."),
                errors=[
                    {
                        "location": location,
                        "message": _("contains a NUL character (U+0000), which no text may hold."),
                    }
                ],
            )
        problem = _(
            "The field %(field)s contains a NUL character (U+0000), which no text may hold; "
            "nothing was written."
        ) % {"field": location}
        return render(request, "400.html", {"problem": problem}, status=400)


def _problem(
    request: HttpRequest, status: int, title: str, detail: str, **extra: Any
) -> HttpResponse:
    """Return an RFC 9457 problem, as the API's own answers are (config.api.problem)."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    return JsonResponse(body, status=status, content_type="application/problem+json")
