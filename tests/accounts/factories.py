"""factory_boy factories for accounts. Each creates through the service an administrator's
command would call, so the test's data carry their audit events as real ones do."""

from __future__ import annotations

from typing import Any

import factory

from carnet.accounts.models import User
from carnet.accounts.services import user_create
from carnet.audit.services import SystemActor

ADMIN = SystemActor(label="test administrator")
PASSWORD = "a long test password"


class UserFactory(factory.Factory[User]):
    """A personal account made by `user_create`: `UserFactory.create()` is a new person,
    `UserFactory.create(username="ines")` a named one, with `is_administrator=True` a system
    administrator."""

    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"person{n}")
    password = PASSWORD
    full_name = factory.LazyAttribute(lambda person: person.username.title())
    email = ""
    is_administrator = False

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **fields: Any) -> User:
        return user_create(actor=ADMIN, **fields)
