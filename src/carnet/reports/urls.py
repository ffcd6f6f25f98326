"""Pages of the reports app."""

from django.urls import URLPattern, path

from carnet.reports import views

app_name = "reports"

urlpatterns: list[URLPattern] = [
    path("design/", views.design_calculator, name="design"),
]
