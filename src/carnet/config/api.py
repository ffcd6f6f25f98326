"""The HTTP API: one django-ninja instance, one router per app, errors as RFC 9457 problems.

Authentication is the browser session or a personal token sent as `Authorization: Bearer <token>`.
A token belongs to one study: whatever it asks about another study is refused.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from carnet import __version__
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.services import token_authenticate
from carnet.accounts.sign_in import LockedOut, token_second_factor_missing
from carnet.capture.services import FormConflict, FormErrors
from carnet.capture.uploads import UploadTooLarge
from carnet.core.errors import CarnetError, ValidationError

logger = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"


class BearerToken(HttpBearer):
    """A personal API token; the request remembers it so endpoints can hold it to its study."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        # No password lock here: a token is a credential of its own (revoke it to stop it), and
        # anyone may type wrong passwords for a name. The second factor does hold for tokens.
        if token_second_factor_missing(
            api_token.user, enrolled=getattr(api_token, "second_factor_enrolled", None)
        ):
            raise PermissionDenied(
                _(
                    "This account must use a second factor: its tokens work once it is enrolled "
                    "(My account › Second sign-in factor)."
                )
            )
        request.api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """The browser session; its CSRF check only once someone is signed in.

    Asked first, ninja's check answered an anonymous or bad-token write with 403 "CSRF check
    Failed" where the truth is 401: nobody is authenticated.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


api = NinjaAPI(
    title="Carnet API",
    version=__version__,
    description=(
        "Clinical research data, scoped to the studies and sites of the person asking. "
        "Authenticate with the browser session or `Authorization: Bearer <token>` (32 "
        "hexadecimal characters; `carnet token create USER STUDY`). Errors are RFC 9457 "
        "problem details (`application/problem+json`)."
    ),
    auth=[BearerToken(), SessionAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api",
)


def problem(
    request: HttpRequest, status: int, title: str, detail: str, **extra: Any
) -> HttpResponse:
    """Return an RFC 9457 problem response."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    return JsonResponse(body, status=status, content_type=PROBLEM_TYPE)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = problem(
        request, 401, "Unauthorized", _("Sign in, or send a valid token as Authorization: Bearer.")
    )
    response["WWW-Authenticate"] = 'Bearer realm="carnet"'
    return response


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    # Bodies that announce their length are refused earlier (RequestLimitsMiddleware); this is
    # the body whose size shows only while it is read.
    return problem(
        request,
        413,
        "Content Too Large",
        _("The request body is larger than the %(limit)s bytes accepted here. Nothing was written.")
        % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    )


@api.exception_handler(UploadTooLarge)
def _upload_too_large(request: HttpRequest, error: UploadTooLarge) -> HttpResponse:
    # Refused as the body arrived, past the file item's limit: nothing was kept.
    return problem(
        request,
        413,
        "Content Too Large",
        _("%(refusal)s Nothing was written.") % {"refusal": str(error)},
    )


@api.exception_handler(LockedOut)
def _locked(request: HttpRequest, error: LockedOut) -> HttpResponse:
    response = problem(request, 429, "Too Many Requests", str(error))
    response["Retry-After"] = str(error.retry_after)
    return response


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
    return problem(request, 403, "Forbidden", str(error))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return problem(request, 404, "Not Found", _("There is nothing here you may see."))


@api.exception_handler(SchemaValidationError)
def _invalid(request: HttpRequest, error: SchemaValidationError) -> HttpResponse:
    errors = [
        {"location": ".".join(str(part) for part in e.get("loc", ())), "message": e.get("msg", "")}
        for e in error.errors
    ]
    return problem(
        request, 422, "Unprocessable Content", "The request does not fit its schema.", errors=errors
    )


@api.exception_handler(FormErrors)
def _form_refused(request: HttpRequest, error: FormErrors) -> HttpResponse:
    return problem(
        request,
        400,
        "Bad Request",
        "The save was refused; nothing was written.",
        errors=error.errors,
    )


@api.exception_handler(FormConflict)
def _conflict(request: HttpRequest, error: FormConflict) -> HttpResponse:
    return problem(
        request,
        409,
        "Conflict",
        str(error),
        current_version=error.current_version,
        changes=error.changes,
    )


@api.exception_handler(ValidationError)
def _refused(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return problem(request, 400, "Bad Request", str(error))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    return problem(request, error.status_code, "Error", str(error))


@api.exception_handler(CarnetError)
def _carnet_error(request: HttpRequest, error: CarnetError) -> HttpResponse:
    return problem(request, 400, "Bad Request", str(error))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.exception("Unexpected API error on %s", request.path)
    return problem(request, 500, "Internal Server Error", _("Something went wrong on our side."))


def _routers() -> None:
    from carnet.accounts.api import router as accounts_router
    from carnet.biobank.api import router as biobank_router
    from carnet.biobank.api_collection import router as biobank_collection_router
    from carnet.biobank.api_exchange import router as biobank_exchange_router
    from carnet.biobank.api_storage import router as biobank_storage_router
    from carnet.capture.api import router as capture_router
    from carnet.coding.api import router as coding_router
    from carnet.coding.api_dictionaries import router as coding_dictionaries_router
    from carnet.database_lock.api import router as database_lock_router
    from carnet.interop.api import router as interop_router
    from carnet.interop.api_documents import router as documents_router
    from carnet.interop.api_odm import router as odm_router
    from carnet.laboratory.api import router as laboratory_router
    from carnet.monitoring.api import router as monitoring_router
    from carnet.oversight.api import router as oversight_router
    from carnet.pharmacy.api import router as pharmacy_router
    from carnet.pharmacy.api_dispensing import router as pharmacy_dispensing_router
    from carnet.quality.api import router as quality_router
    from carnet.randomization.api import router as randomization_router
    from carnet.redcap.api import router as redcap_router
    from carnet.reports.api import router as reports_router
    from carnet.safety.api import router as safety_router
    from carnet.studies.api import router as studies_router
    from carnet.subjects.api import router as subjects_router

    api.add_router("/", accounts_router)
    api.add_router("/studies", studies_router)
    api.add_router("/studies", subjects_router)
    api.add_router("/studies", capture_router)
    api.add_router("/studies", randomization_router)
    api.add_router("/studies", quality_router)
    api.add_router("/studies", laboratory_router)
    api.add_router("/studies", interop_router)
    api.add_router("/studies", documents_router)
    api.add_router("/studies", oversight_router)
    api.add_router("/studies", safety_router)
    api.add_router("/studies", monitoring_router)
    api.add_router("/studies", coding_router)
    api.add_router("/studies", pharmacy_router)
    api.add_router("/studies", pharmacy_dispensing_router)
    api.add_router("/studies", biobank_router)
    api.add_router("/studies", biobank_collection_router)
    api.add_router("/studies", biobank_exchange_router)
    api.add_router("/studies", biobank_storage_router)
    api.add_router("/studies", database_lock_router)
    api.add_router("/", reports_router)
    api.add_router("/", redcap_router)
    api.add_router("/", coding_dictionaries_router)
    api.add_router("/", odm_router)


_routers()
