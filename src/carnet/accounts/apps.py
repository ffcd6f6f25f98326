from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "carnet.accounts"
    verbose_name = "Accounts"
