"""Request-wide guards: security headers, idle sessions, the second factor, the user's language."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import permissions_remembered
from carnet.accounts.sign_in import session_activity, two_factor_enrolled, two_factor_required
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
# Paths a person who still owes a second factor may reach.
SECOND_FACTOR_OPEN = (
    "/login/",
    "/logout/",
    "/account/two-factor/",
    "/static/",
    "/i18n/",
    "/language/",
    "/healthz",
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
                f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}"
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
            and not request.path.startswith(SECOND_FACTOR_OPEN)
            and not getattr(request, "api_token", None)
        ):
            if two_factor_enrolled(user):
                target = "/login/verify/"
            elif two_factor_required(user):
                target = "/account/two-factor/"
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
