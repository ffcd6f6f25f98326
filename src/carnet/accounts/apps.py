from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "carnet.accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # `carnet audit verify` counts what the audit chains must record.
        from carnet.accounts import (
            census,
            checks,  # noqa: F401 (registers the deployment checks)
        )

        census.register()
