"""Accounts are managed through services (audited), so the admin only shows them."""

from django.contrib import admin

from carnet.accounts.models import User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("username", "full_name", "email", "is_active", "is_staff", "last_login")
    search_fields = ("username", "full_name", "email")
    readonly_fields = [field.name for field in User._meta.fields]
    exclude = ("password", "groups", "user_permissions")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
