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

        # `carnet study mode` (studies' command) signs with a person's e-signature, which
        # accounts holds: it registers how (studies imports nothing of accounts).
        from carnet.accounts.services import user_get
        from carnet.accounts.signatures import study_mode_change_signed
        from carnet.studies.signing import ModeSigning, register_mode_signing

        register_mode_signing(ModeSigning(signer=user_get, change=study_mode_change_signed))
