from django.urls import include, path

from carnet.web import account_views, administration_views, sign_in_views, views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    # Capture's pages live in their app; they sit under /studies/<identifier>/subjects/….
    path("", include("carnet.capture.urls")),
    path("healthz", views.health, name="health"),
    path("login/", sign_in_views.login_page, name="login"),
    path("login/verify/", sign_in_views.verify_page, name="verify"),
    path("logout/", sign_in_views.logout_page, name="logout"),
    path(
        "password/set/<str:uidb64>/<str:token>/",
        sign_in_views.password_set_page,
        name="password_set",
    ),
    path("language/", account_views.language_page, name="language"),
    path("account/", account_views.account_page, name="account"),
    path("account/password/", account_views.password_page, name="password"),
    path("account/sessions/end-others/", account_views.sessions_end_page, name="sessions_end"),
    path("account/two-factor/", sign_in_views.two_factor_page, name="two_factor"),
    path(
        "account/two-factor/recovery-codes/",
        account_views.recovery_codes_page,
        name="recovery_codes",
    ),
    path("account/tokens/", account_views.token_create_page, name="token_create"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        account_views.token_revoke_page,
        name="token_revoke",
    ),
    path("studies/", views.study_switch, name="study_switch"),
    path("studies/<str:identifier>/", views.study_page, name="study"),
    path(
        "studies/<str:identifier>/versions/<int:number>/",
        views.study_version_page,
        name="study_version",
    ),
    path("studies/<str:identifier>/mode/", views.study_mode_page, name="study_mode"),
    path("studies/<str:identifier>/test-view/", views.study_test_view_page, name="test_view"),
    path("studies/<str:identifier>/publish/", views.study_publish_page, name="study_publish"),
    path("administration/", administration_views.overview_page, name="administration"),
    path("administration/centres/", administration_views.centres_page, name="admin_centres"),
    path("administration/studies/", administration_views.studies_page, name="admin_studies"),
    path(
        "administration/studies/<str:identifier>/sites/",
        administration_views.sites_page,
        name="admin_sites",
    ),
    path(
        "administration/studies/<str:identifier>/memberships/",
        administration_views.memberships_page,
        name="admin_memberships",
    ),
    path("administration/users/", administration_views.users_page, name="admin_users"),
    path(
        "administration/users/<str:username>/",
        administration_views.user_action_page,
        name="admin_user",
    ),
    path("administration/tokens/", administration_views.tokens_page, name="admin_tokens"),
    path("administration/lockouts/", administration_views.lockouts_page, name="admin_lockouts"),
]
