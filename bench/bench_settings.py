"""Settings for bench/capture_save.py only: the local profile plus the floor endpoint.

The floor is the cheapest useful write the same server can do: one request that runs one
INSERT into a bench table (created by the benchmark, not by a migration) and answers with JSON,
through the same gunicorn, middleware and database connection settings as the save pipeline.
It exists only here: the product has no such endpoint.
"""

from typing import Any

from carnet.config.settings.local import *  # noqa: F403

# The benchmark measures the server as deployed, not with debug query logging.
DEBUG = False
ROOT_URLCONF = "bench_settings"


def floor(request: Any) -> Any:
    from django.db import connection
    from django.http import JsonResponse

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_floor (payload) VALUES (%s)", [request.body[:200]])
    return JsonResponse({"ok": True})


def __getattr__(name: str) -> Any:
    # The URLconf is this module; the product's URLs are imported when Django first resolves a
    # URL (apps are ready then), not when the settings are read.
    if name == "urlpatterns":
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt
        from lean_save import lean_save

        from carnet.config.urls import urlpatterns as product

        return [
            path("bench/floor", csrf_exempt(floor)),
            path("bench/lean/<str:study>/<str:subject>/<int:visit>", csrf_exempt(lean_save)),
            *product,
        ]
    raise AttributeError(name)
