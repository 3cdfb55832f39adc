"""Every write to membership: people's affiliations with organisations, the organisations'
domain rules and contacts, and organisations' memberships of clusters.

A person is a member of a cluster on a day when their affiliation with an organisation is
confirmed (`Profile.organisation`, kept in step here) and that organisation's cluster
membership is in force on that day (`ClusterMembership.objects.active_on`). Who may
decide, and on whose behalf, is checked here; the views only ask.
"""

import logging
import operator
from datetime import date
from functools import reduce

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from members import selectors
from members.languages import languages_of_addresses
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    MembershipLog,
    Organisation,
    OrganisationContact,
    OrganisationDomain,
    Profile,
    User,
)
from notifications.services import email_enqueue, subject_line

logger = logging.getLogger(__name__)

A = Affiliation.Status
Action = MembershipLog.Action

# Domains anyone can get an address at: a rule on one of them would let the world in.
FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "gmx.at",
        "gmx.net",
        "web.de",
        "t-online.de",
        "freenet.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "tutanota.com",
        "yandex.com",
        "mail.ru",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "wanadoo.fr",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "abv.bg",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "example.com",
    ]
)


# --- addresses and domains --------------------------------------------------------------


def normalise_domain(value: str) -> str:
    """A domain as rules store it: lower case, ASCII (IDNA), no trailing dot.

    Raises ValidationError for anything that is not a plain domain name with a dot.
    """
    domain = value.strip().lower().rstrip(".")
    if domain.startswith("@"):
        domain = domain[1:]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(
            gettext("“%(domain)s” is not a domain name."), params={"domain": value}
        ) from None
    labels = domain.split(".")
    if (
        len(labels) < 2
        or labels[-1].isdigit()  # an IP address, not a domain
        or not all(
            label
            and len(label) <= 63
            and label.isascii()
            and label.replace("-", "").isalnum()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    ):
        raise ValidationError(
            gettext(
                "“%(domain)s” is not a domain name; write the part after @, e.g. acme.example."
            ),
            params={"domain": value},
        )
    return domain


def address_domain(email: str) -> str | None:
    """The domain of an address, normalised like a rule; None if it has none."""
    _, at, domain = email.rpartition("@")
    if not at:
        return None
    try:
        return normalise_domain(domain)
    except ValidationError:
        return None


def verified_addresses(*, user: User) -> list[str]:
    """The addresses allauth has verified for this account (never the text typed)."""
    return list(
        EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    )


def _rule_match(*, user: User, organisation: Organisation | None = None):
    """(organisation, via) that a verified address of the person entitles them to join —
    a contact address first, then a domain rule — or (None, "")."""
    addresses = verified_addresses(user=user)
    if not addresses:
        return None, ""
    contacts = OrganisationContact.objects.filter(
        reduce(operator.or_, (Q(email__iexact=a) for a in addresses))
    )
    domains = OrganisationDomain.objects.filter(
        domain__in={d for d in map(address_domain, addresses) if d}
    )
    if organisation is not None:
        contacts = contacts.filter(organisation=organisation)
        domains = domains.filter(organisation=organisation)
    contact = contacts.select_related("organisation").order_by("pk").first()
    if contact:
        return contact.organisation, Affiliation.Via.CONTACT
    rule = domains.select_related("organisation").order_by("pk").first()
    if rule:
        return rule.organisation, Affiliation.Via.DOMAIN
    return None, ""


# --- logging and mail -------------------------------------------------------------------


def _log(
    action: str,
    *,
    actor: User | None,
    person: User | None = None,
    organisation: Organisation | None = None,
    cluster: Cluster | None = None,
    detail: str = "",
) -> None:
    MembershipLog.objects.create(
        action=action,
        actor=actor,
        person=person,
        organisation=organisation,
        cluster=cluster,
        detail=detail[:240],
    )


def _name(user: User) -> str:
    profile = Profile.objects.filter(user=user).only("display_name").first()
    return profile.display_name if profile else user.email


def _mail(*, to: list[str], kind: str, key: str, context: dict) -> None:
    """One message per address, through the outbox (sent after commit)."""
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    rendered: dict[str, tuple[str, str]] = {}  # (subject, body) per recipients' language
    for email, language in languages_of_addresses(e.lower() for e in to if e).items():
        if language not in rendered:
            with translation.override(language):
                subject = render_to_string(f"members/email/{kind}_subject.txt", context)
                body = render_to_string(f"members/email/{kind}_body.txt", context)
            rendered[language] = (subject_line(subject), body)
        subject, body = rendered[language]
        email_enqueue(
            message=EmailMultiAlternatives(
                subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email]
            ),
            kind=f"membership.{kind}",
            idempotency_key=f"membership.{kind}:{key}:{email}",
            batch="membership",
        )


def _deciders_emails(*, organisation: Organisation) -> list[str]:
    """Who hears of a request: the organisation's admins, else its clusters' organisers."""
    admins = selectors.organisation_admins(organisation=organisation)
    emails = [u.email for u in admins if u.is_active]
    if emails:
        return emails
    clusters = Cluster.objects.filter(
        pk__in=selectors.active_memberships().filter(organisation=organisation).values("cluster_id")
    )
    return selectors.organiser_emails(clusters=clusters, limit=10)


def _requests_url() -> str:
    return settings.SITE_URL + reverse("members:membership_requests")


def _my_organisation_url() -> str:
    return settings.SITE_URL + reverse("members:my_organisation")


# --- affiliations -----------------------------------------------------------------------


def _sync_profile(*, user: User) -> None:
    """Profile.organisation is the organisation of the confirmed affiliation, or None."""
    confirmed = (
        Affiliation.objects.filter(user=user, status=A.CONFIRMED)
        .values_list("organisation_id", flat=True)
        .first()
    )
    Profile.objects.filter(user=user).update(organisation_id=confirmed)


def _open_affiliation(*, user: User) -> Affiliation | None:
    return (
        Affiliation.objects.select_for_update()
        .select_related("organisation")
        .filter(user=user, status__in=Affiliation.OPEN)
        .first()
    )


def _lock_person(user: User) -> None:
    # Serialises every membership write of one person: one open affiliation at a time.
    User.objects.select_for_update().filter(pk=user.pk).first()


def _confirm(
    affiliation: Affiliation, *, via: str, actor: User | None, admin: bool = False
) -> Affiliation:
    affiliation.status = A.CONFIRMED
    affiliation.confirmed_via = via
    affiliation.decided_at = timezone.now()
    affiliation.is_admin = affiliation.is_admin or admin
    affiliation.save(update_fields=["status", "confirmed_via", "decided_at", "is_admin"])
    _sync_profile(user=affiliation.user)
    _log(
        Action.CONFIRMED,
        actor=actor,
        person=affiliation.user,
        organisation=affiliation.organisation,
        detail=str(Affiliation.Via(via).label),
    )
    if admin:
        _log(
            Action.ADMIN_GRANTED,
            actor=actor,
            person=affiliation.user,
            organisation=affiliation.organisation,
            detail="listed as the organisation's contact",
        )
    _mail(
        to=[affiliation.user.email],
        kind="affiliation_confirmed",
        key=str(affiliation.pk),
        context={
            "name": _name(affiliation.user),
            "organisation": affiliation.organisation,
            "via": Affiliation.Via(via).label,
            "url": _my_organisation_url(),
        },
    )
    return affiliation


@transaction.atomic
def affiliation_request(*, user: User, organisation: Organisation) -> Affiliation:
    """Ask to be linked to `organisation`; confirmed at once when a verified address of the
    person is the organisation's contact or at its domain, otherwise a request that its
    admins (or else its clusters' organisers) are told about.

    A pending request elsewhere is withdrawn; a confirmed affiliation elsewhere must be
    left first. Asking again for the same organisation changes nothing.
    """
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied
    _lock_person(user)
    current = _open_affiliation(user=user)
    if current and current.organisation_id == organisation.pk:
        return current
    if current and current.status == A.CONFIRMED:
        raise ValidationError(
            gettext(
                "You are a confirmed member of %(organisation)s. Leave it first, then ask to "
                "join another organisation."
            ),
            params={"organisation": current.organisation.name},
            code="confirmed_elsewhere",
        )
    if current:
        _withdraw(current, actor=user)
    affiliation = Affiliation.objects.create(user=user, organisation=organisation)
    _log(Action.REQUESTED, actor=user, person=user, organisation=organisation)
    matched, via = _rule_match(user=user, organisation=organisation)
    if matched:
        return _confirm(affiliation, via=via, actor=None, admin=via == Affiliation.Via.CONTACT)
    _mail(
        to=_deciders_emails(organisation=organisation),
        kind="affiliation_requested",
        key=str(affiliation.pk),
        context={
            "name": _name(user),
            "email": user.email,
            "organisation": organisation,
            "url": _requests_url(),
        },
    )
    return affiliation


def _withdraw(affiliation: Affiliation, *, actor: User) -> None:
    affiliation.status = A.WITHDRAWN
    affiliation.ended_at = timezone.now()
    affiliation.save(update_fields=["status", "ended_at"])
    _log(
        Action.WITHDRAWN,
        actor=actor,
        person=affiliation.user,
        organisation=affiliation.organisation,
    )


@transaction.atomic
def affiliation_withdraw(*, affiliation: Affiliation, by: User) -> Affiliation:
    affiliation = Affiliation.objects.select_for_update().get(pk=affiliation.pk)
    if affiliation.user_id != by.pk:
        raise PermissionDenied
    if affiliation.status != A.REQUESTED:
        raise ValidationError(
            gettext("Only a pending request can be withdrawn."), code="not_pending"
        )
    _withdraw(affiliation, actor=by)
    return affiliation


def _decider_via(*, user: User, organisation: Organisation) -> str:
    """How `user` may decide about `organisation`'s people; PermissionDenied if not at all."""
    if user.is_authenticated and user.is_active:
        if user.is_staff:
            return Affiliation.Via.STAFF
        if selectors.user_is_organisation_admin(user=user, organisation=organisation):
            return Affiliation.Via.ORGANISATION_ADMIN
        if selectors.user_organises_organisation(user=user, organisation=organisation):
            return Affiliation.Via.ORGANISER
    raise PermissionDenied


@transaction.atomic
def affiliation_decide(*, affiliation: Affiliation, by: User, confirm: bool) -> Affiliation:
    """Confirm or decline a pending request, as an admin of the organisation, an organiser
    of one of its clusters, or staff. The person is told either way."""
    affiliation = (
        Affiliation.objects.select_for_update()
        .select_related("user", "organisation")
        .get(pk=affiliation.pk)
    )
    via = _decider_via(user=by, organisation=affiliation.organisation)
    if affiliation.user_id == by.pk and not by.is_staff:
        # An organiser could otherwise add any organisation to their cluster and confirm
        # themselves into it (and into its other clusters); someone else must answer.
        raise PermissionDenied(gettext("Someone else answers your own request."))
    if affiliation.status != A.REQUESTED:
        raise ValidationError(
            gettext("This request was already answered (%(status)s)."),
            params={"status": affiliation.get_status_display()},
            code="already_decided",
        )
    if confirm:
        return _confirm(affiliation, via=via, actor=by)
    affiliation.status = A.DECLINED
    affiliation.decided_at = timezone.now()
    affiliation.save(update_fields=["status", "decided_at"])
    _log(Action.DECLINED, actor=by, person=affiliation.user, organisation=affiliation.organisation)
    _mail(
        to=[affiliation.user.email],
        kind="affiliation_declined",
        key=str(affiliation.pk),
        context={
            "name": _name(affiliation.user),
            "organisation": affiliation.organisation,
            "url": _my_organisation_url(),
        },
    )
    return affiliation


@transaction.atomic
def affiliation_end(*, affiliation: Affiliation, by: User) -> Affiliation:
    """End a confirmed affiliation: the person leaves, or an admin, organiser or staff
    removes them. Access ends with the commit; registrations and attendance stay."""
    affiliation = (
        Affiliation.objects.select_for_update()
        .select_related("user", "organisation")
        .get(pk=affiliation.pk)
    )
    leaving = affiliation.user_id == by.pk
    if not leaving:
        _decider_via(user=by, organisation=affiliation.organisation)
    if affiliation.status != A.CONFIRMED:
        raise ValidationError(gettext("Only a confirmed membership can end."), code="not_confirmed")
    affiliation.status = A.ENDED
    affiliation.ended_at = timezone.now()
    was_admin, affiliation.is_admin = affiliation.is_admin, False
    affiliation.save(update_fields=["status", "ended_at", "is_admin"])
    _sync_profile(user=affiliation.user)
    organisation = affiliation.organisation
    _log(
        Action.LEFT if leaving else Action.REMOVED,
        actor=by,
        person=affiliation.user,
        organisation=organisation,
        detail="was an organisation admin" if was_admin else "",
    )
    context = {
        "name": _name(affiliation.user),
        "organisation": organisation,
        "leaving": leaving,
        "url": _my_organisation_url(),
    }
    if leaving:
        _mail(
            to=[u.email for u in selectors.organisation_admins(organisation=organisation)],
            kind="affiliation_left",
            key=str(affiliation.pk),
            context=context,
        )
    else:
        _mail(
            to=[affiliation.user.email],
            kind="affiliation_removed",
            key=str(affiliation.pk),
            context=context,
        )
    return affiliation


@transaction.atomic
def affiliation_set_admin(*, affiliation: Affiliation, by: User, is_admin: bool) -> Affiliation:
    """Make a confirmed member an admin of their organisation, or no longer one."""
    affiliation = (
        Affiliation.objects.select_for_update()
        .select_related("user", "organisation")
        .get(pk=affiliation.pk)
    )
    _decider_via(user=by, organisation=affiliation.organisation)
    if affiliation.status != A.CONFIRMED:
        raise ValidationError(
            gettext("Only a confirmed member can be an admin."), code="not_confirmed"
        )
    if affiliation.is_admin == is_admin:
        return affiliation
    affiliation.is_admin = is_admin
    affiliation.save(update_fields=["is_admin"])
    _log(
        Action.ADMIN_GRANTED if is_admin else Action.ADMIN_REVOKED,
        actor=by,
        person=affiliation.user,
        organisation=affiliation.organisation,
    )
    return affiliation


@transaction.atomic
def affiliation_apply_address_rules(*, user: User) -> Affiliation | None:
    """After an address is verified: join the organisation it entitles the person to.

    A person with no open affiliation joins; a pending request for that organisation is
    confirmed; a contact address makes a member of the same organisation its admin. A
    request for another organisation, or a confirmed affiliation elsewhere, is left alone.
    """
    if not user.is_active:
        return None
    _lock_person(user)
    current = _open_affiliation(user=user)
    # The organisation the person asked for first; any other only if they asked for none.
    organisation, via = (None, "")
    if current is not None:
        organisation, via = _rule_match(user=user, organisation=current.organisation)
    if organisation is None:
        organisation, via = _rule_match(user=user)
    if organisation is None:
        return None
    contact = via == Affiliation.Via.CONTACT
    if current is None:
        affiliation = Affiliation.objects.create(user=user, organisation=organisation)
        return _confirm(affiliation, via=via, actor=None, admin=contact)
    if current.organisation_id != organisation.pk:
        return current
    if current.status == A.REQUESTED:
        return _confirm(current, via=via, actor=None, admin=contact)
    if contact and not current.is_admin:
        current.is_admin = True
        current.save(update_fields=["is_admin"])
        _log(
            Action.ADMIN_GRANTED,
            actor=None,
            person=user,
            organisation=organisation,
            detail="listed as the organisation's contact",
        )
    return current


def affiliations_erase(*, user: User) -> None:
    """Inside an account's erasure: where the person worked goes, and the log keeps its
    decisions without saying who was concerned or who decided."""
    Affiliation.objects.filter(user=user).delete()
    MembershipLog.objects.filter(person=user).update(person=None)
    MembershipLog.objects.filter(actor=user).update(actor=None)


# --- domain rules and contacts ----------------------------------------------------------


@transaction.atomic
def domain_add(*, organisation: Organisation, domain: str, by: User) -> OrganisationDomain:
    """Add a domain rule. Organisation admins may add only a domain of their own verified
    address; organisers and staff any domain but a free-mail one. Pending requests of
    people with a verified address there are confirmed."""
    via = _decider_via(user=by, organisation=organisation)
    domain = normalise_domain(domain)
    if domain in FREE_MAIL_DOMAINS:
        raise ValidationError(
            gettext("Anyone can get an address at %(domain)s, so it cannot confirm membership."),
            params={"domain": domain},
            code="free_mail",
        )
    own = {address_domain(a) for a in verified_addresses(user=by)}
    if via == Affiliation.Via.ORGANISATION_ADMIN and domain not in own:
        raise ValidationError(
            gettext(
                "As an organisation admin you can add only the domain of your own verified "
                "address; ask the cluster's organisers for %(domain)s."
            ),
            params={"domain": domain},
            code="not_own_domain",
        )
    taken = OrganisationDomain.objects.filter(domain=domain).select_related("organisation").first()
    if taken:
        if taken.organisation_id == organisation.pk:
            return taken
        raise ValidationError(
            gettext("%(domain)s already confirms members of another organisation."),
            params={"domain": domain},
            code="domain_taken",
        )
    rule = OrganisationDomain.objects.create(organisation=organisation, domain=domain)
    _log(Action.DOMAIN_ADDED, actor=by, organisation=organisation, detail=domain)
    pending = Affiliation.objects.filter(organisation=organisation, status=A.REQUESTED)
    for affiliation in pending.select_related("user", "organisation"):
        if domain in {address_domain(a) for a in verified_addresses(user=affiliation.user)}:
            _confirm(affiliation, via=Affiliation.Via.DOMAIN, actor=None)
    return rule


@transaction.atomic
def domain_remove(*, rule: OrganisationDomain, by: User) -> None:
    """Stop confirming new people by this domain; those already confirmed stay."""
    _decider_via(user=by, organisation=rule.organisation)
    _log(Action.DOMAIN_REMOVED, actor=by, organisation=rule.organisation, detail=rule.domain)
    rule.delete()


# --- cluster memberships ----------------------------------------------------------------


@transaction.atomic
def cluster_membership_set(
    *,
    cluster: Cluster,
    organisation: Organisation,
    status: str,
    joined_on: date | None,
    left_on: date | None,
    by: User,
) -> ClusterMembership:
    """Create or change an organisation's membership of a cluster, as its organiser.

    "Former member" without an end date ends it today. The organisation's admins are told
    when the status changes.
    """
    if not selectors.user_manages_cluster(user=by, cluster=cluster):
        raise PermissionDenied
    membership = (
        ClusterMembership.objects.select_for_update()
        .filter(cluster=cluster, organisation=organisation)
        .first()
    )
    if status == ClusterMembership.Status.FORMER and left_on is None:
        # A former member keeps the day it left; one that leaves now leaves today.
        already_former = membership and membership.status == ClusterMembership.Status.FORMER
        left_on = membership.left_on if already_former else timezone.localdate()
    if joined_on and left_on and left_on <= joined_on:
        raise ValidationError({"left_on": gettext("The end comes after the start.")})
    before = (membership.status, membership.joined_on, membership.left_on) if membership else None
    if before == (status, joined_on, left_on):
        return membership
    if membership is None:
        membership = ClusterMembership(cluster=cluster, organisation=organisation)
    membership.status, membership.joined_on, membership.left_on = status, joined_on, left_on
    membership.full_clean()
    membership.save()
    detail = f"{membership.get_status_display()}, {joined_on or '…'} – {left_on or '…'}"
    _log(
        Action.CLUSTER_CHANGED, actor=by, organisation=organisation, cluster=cluster, detail=detail
    )
    if before is None or before[0] != status:
        _mail(
            to=[u.email for u in selectors.organisation_admins(organisation=organisation)],
            kind="cluster_membership_changed",
            key=f"{membership.pk}:{membership.updated_at.isoformat()}",
            context={"organisation": organisation, "cluster": cluster, "membership": membership},
        )
    return membership
