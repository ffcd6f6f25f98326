"""Pages of accounts: signing in, one's own account, and the administration of people, centres,
study sites, delegation logs, tokens and lockouts."""

from django.urls import path

from carnet.accounts.views import account, administration, signatures, signing_in

app_name = "accounts"
urlpatterns = [
    path("login/", signing_in.login_page, name="login"),
    path("login/verify/", signing_in.verify_page, name="verify"),
    path("logout/", signing_in.logout_page, name="logout"),
    path(
        "password/set/<str:uidb64>/<str:token>/",
        signing_in.password_set_page,
        name="password_set",
    ),
    path("language/", account.language_page, name="language"),
    path("account/", account.account_page, name="account"),
    path("account/password/", account.password_page, name="password"),
    path("account/sessions/end-others/", account.sessions_end_page, name="sessions_end"),
    path("account/two-factor/", signing_in.two_factor_page, name="two_factor"),
    path(
        "account/two-factor/recovery-codes/",
        account.recovery_codes_page,
        name="recovery_codes",
    ),
    path("account/tokens/", account.token_create_page, name="token_create"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        account.token_revoke_page,
        name="token_revoke",
    ),
    # A study's page asks for it; the act is the person's e-signature, which accounts holds.
    path("studies/<str:identifier>/mode/", signatures.study_mode_page, name="study_mode"),
    path("administration/", administration.overview_page, name="administration"),
    path("administration/centres/", administration.centres_page, name="admin_centres"),
    path("administration/studies/", administration.studies_page, name="admin_studies"),
    path(
        "administration/studies/<str:identifier>/sites/",
        administration.sites_page,
        name="admin_sites",
    ),
    path(
        "administration/studies/<str:identifier>/memberships/",
        administration.memberships_page,
        name="admin_memberships",
    ),
    path("administration/users/", administration.users_page, name="admin_users"),
    path(
        "administration/users/<str:username>/",
        administration.user_action_page,
        name="admin_user",
    ),
    path("administration/tokens/", administration.tokens_page, name="admin_tokens"),
    path("administration/lockouts/", administration.lockouts_page, name="admin_lockouts"),
]
