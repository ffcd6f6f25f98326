"""Who may do what with the study's stock, on top of `accounts.permissions`.

- The depot's side (batches, kit lists, shipments, relabelling, excursion decisions): MANAGE_SUPPLY
  (the sponsor's project manager) or a command on the server.
- A site's pharmacy (receipt, excursion reports): DISPENSE at that site (its pharmacist).
- Reading the stock: whoever sees the site's subjects, its pharmacist, the supply managers.
- A kit's content (the arm): unblinded roles and commands on the server only; every page, API
  answer and error asks `contents_visible` first.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import (
    Actor,
    PermissionDenied,
    SiteScope,
    is_unblinded,
    require,
    site_scope,
)
from carnet.accounts.roles import Action
from carnet.studies.models import Study

# Who reads a site's stock (kit numbers, statuses, shipments, excursions, never contents): the
# site's staff and monitors (a kit number reveals no arm), its pharmacist, the supply managers.
STOCK_READERS = (Action.VIEW_SUBJECTS, Action.DISPENSE, Action.MONITOR, Action.MANAGE_SUPPLY)


def contents_visible(actor: Actor, study: Study) -> bool:
    """Return whether the actor may read kits' contents (an unblinded role, or the server)."""
    if isinstance(actor, User):
        return is_unblinded(actor, study=study)
    return True


def may_supply(user: User, study: Study) -> bool:
    """Return whether the user runs the depot's side of the study: it serves every site, so a
    membership restricted to some sites does not allow it."""
    return site_scope(user, Action.MANAGE_SUPPLY, study=study).all_sites


def supply_require(actor: Actor, study: Study) -> None:
    """Refuse unless the actor runs the depot's side of the study (or is a server command)."""
    if isinstance(actor, User) and not may_supply(actor, study):
        raise PermissionDenied(
            _("You may not do this here (%(action)s).") % {"action": Action.MANAGE_SUPPLY.value}
        )


def pharmacist_require(actor: Actor, study: Study, site: StudySite) -> None:
    """Refuse unless the actor is a pharmacist of the site (or a server command)."""
    if isinstance(actor, User):
        require(actor, Action.DISPENSE, study=study, site=site)


def stock_scope(user: User, study: Study) -> SiteScope:
    """Return the sites whose stock the user may read."""
    scopes = [site_scope(user, action, study=study) for action in STOCK_READERS]
    if any(scope.all_sites for scope in scopes):
        return SiteScope(all_sites=True, site_ids=frozenset())
    return SiteScope(
        all_sites=False, site_ids=frozenset().union(*(scope.site_ids for scope in scopes))
    )
