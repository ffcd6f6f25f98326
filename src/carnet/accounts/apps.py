from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "carnet.accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from carnet.accounts import checks  # noqa: F401 (registers the deployment checks)
