"""The front page and the health check used by load balancers and `make run`'s users."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from carnet import __version__


def home(request: HttpRequest) -> HttpResponse:
    """Return the front page: what Carnet is and where to sign in."""
    return render(request, "web/home.html", {"version": __version__})


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 otherwise (no detail leaks to the caller)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "version": __version__})
