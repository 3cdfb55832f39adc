"""A cluster's member organisations and their contacts, imported from a CRM's CSV export.

`crm_import_plan` reads a file and says, row by row, what it would change and what is wrong
with it; it writes nothing. `crm_import_apply` writes exactly that plan, or nothing at all
when any row has an error. Importing the same file again changes nothing: organisations are
matched by name, and only what is missing is added. Fields of an organisation that already
exists (country, kind) are never overwritten; the plan warns where the file differs.

Columns (header row required, names matched case-insensitively, spaces, underscores and
hyphens ignored; other columns are left out):
  name              the organisation's name (required)
  country           ISO 3166 alpha-2 code or English name (required for new organisations)
  kind              an `Organisation.Kind` value or label (empty: "Other" for new ones)
  domains           domains whose verified addresses join the organisation at once
  contact e-mails   addresses whose verified owners become the organisation's admins
Several domains or addresses in one cell are separated by ";", ",", spaces or line breaks.
"""

import csv
import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower, StrIndex, Substr
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import override
from django_countries import countries

from members import imports, membership, selectors
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    ImportJob,
    MembershipLog,
    Organisation,
    OrganisationContact,
    OrganisationDomain,
    User,
)
from members.validators import NOT_ONE_LINE

# Bound on the number of values in one SQL `IN (...)`, well inside SQLite's limit.
_CHUNK = 500

NAME, COUNTRY, KIND, DOMAINS, CONTACTS = "name", "country", "kind", "domains", "contacts"
FIELDS = (NAME, COUNTRY, KIND, DOMAINS, CONTACTS)

# Header names as CRMs write them, reduced by `_header_key`.
HEADER_ALIASES = {
    NAME: {"name", "organisation", "organization", "organisationname", "organizationname"}
    | {"company", "companyname"},
    COUNTRY: {"country", "countrycode"},
    KIND: {"kind", "organisationkind", "organizationkind", "organisationtype"}
    | {"organizationtype"},
    DOMAINS: {"domains", "domain", "emaildomains", "emaildomain"},
    # Not a bare "e-mail" or "contact" column: a contact address makes its holder an admin
    # of the organisation, so the column has to say it holds contacts' addresses.
    CONTACTS: {"contactemails", "contactemail", "contacts", "contactaddresses"}
    | {"contactemailaddresses"},
}
_HEADER_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_SPLIT = re.compile(r"[;,\s]+")


@dataclass
class RowPlan:
    """One row of the file: what it says, what is wrong with it and what it would change."""

    line: int  # the row's number as a spreadsheet shows it; the header is row 1
    name: str = ""
    country: str = ""  # ISO 3166 alpha-2 code, "" when the cell is empty or wrong
    kind: str = ""  # an Organisation.Kind value, "" when the cell is empty or wrong
    domains: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)
    organisation: Organisation | None = None  # the existing organisation it matches
    membership: ClusterMembership | None = None  # its existing membership of the cluster
    errors: list[str] = field(default_factory=list)
    error_columns: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    new_domains: list[str] = field(default_factory=list)
    new_contacts: list[str] = field(default_factory=list)

    @property
    def new_organisation(self) -> bool:
        return self.organisation is None

    @property
    def joins_cluster(self) -> bool:
        return self.membership is None

    @property
    def changes(self) -> list[str]:
        """What importing this row does, in words; ["no change"] when nothing."""
        changes = []
        if self.new_organisation:
            changes.append(
                _("new organisation (%(kind)s, %(country)s)")
                % {
                    "kind": Organisation.Kind(self.kind or Organisation.Kind.OTHER).label,
                    "country": countries.name(self.country) if self.country else "—",
                }
            )
        if self.joins_cluster:
            changes.append(_("joins the cluster as member"))
        changes += [_("adds domain %s") % d for d in self.new_domains]
        changes += [_("adds contact %s") % c for c in self.new_contacts]
        return changes or [_("no change")]

    @property
    def changed(self) -> bool:
        return bool(
            self.new_organisation or self.joins_cluster or self.new_domains or self.new_contacts
        )


@dataclass
class ImportPlan:
    rows: list[RowPlan] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # about the file as a whole
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(row.errors for row in self.rows)

    @property
    def all_errors(self) -> list[str]:
        return self.errors + [e for row in self.rows for e in row.errors]

    @property
    def rows_with_errors(self) -> int:
        return sum(1 for row in self.rows if row.errors)

    def _valid(self) -> Iterator[RowPlan]:
        return (row for row in self.rows if not row.errors)

    @property
    def new_organisations(self) -> int:
        return sum(1 for row in self._valid() if row.new_organisation)

    @property
    def new_memberships(self) -> int:
        return sum(1 for row in self._valid() if row.joins_cluster)

    @property
    def new_domains(self) -> int:
        return sum(len(row.new_domains) for row in self._valid())

    @property
    def new_contacts(self) -> int:
        return sum(len(row.new_contacts) for row in self._valid())

    @property
    def changes_anything(self) -> bool:
        return any(row.changed for row in self._valid())


@dataclass(frozen=True)
class ImportResult:
    organisations: int = 0
    memberships: int = 0
    domains: int = 0
    contacts: int = 0
    people_confirmed: int = 0  # existing accounts whose affiliation the import confirmed


# --- reading the file -------------------------------------------------------------------


def decode_csv(*, data: bytes) -> str:
    """The text of an uploaded file: UTF-8, with or without a byte order mark, within
    the limits of `members.imports` (ValidationError otherwise)."""
    if len(data) > settings.IMPORT_MAX_BYTES:
        raise ValidationError(imports.too_large_message(), code="too_large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            _("The file is not UTF-8 text. Export it from your CRM as “CSV UTF-8”."),
            code="not_utf8",
        ) from None
    if imports.rows_over_limit(text):
        raise ValidationError(imports.too_many_rows_message(), code="too_many_rows")
    return text


def _header_key(value: str) -> str:
    return "".join(ch for ch in value.casefold() if ch.isalnum())


def _delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of ";", "," and tab."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _split_cell(value: str) -> list[str]:
    # Commas separate values even in comma-separated files (inside a quoted cell): no
    # domain, and no address `validate_email` accepts, contains one.
    return list(dict.fromkeys(v for v in _SPLIT.split(value) if v))


def _read(text: str, plan: ImportPlan) -> tuple[dict[str, str], list[tuple[int, dict[str, str]]]]:
    """(header text by field, [(line, cells by field)]); problems with the file as a whole
    go to `plan.errors`."""
    if len(text.encode("utf-8")) > settings.IMPORT_MAX_BYTES:
        plan.errors.append(imports.too_large_message())
        return {}, []
    text = text.removeprefix("\ufeff")
    if not text.strip():
        plan.errors.append(_("The file is empty."))
        return {}, []
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        # Rows are numbered as a spreadsheet shows them: the header is row 1 (after any
        # blank rows above it), and a cell with line breaks stays within its row.
        header_row, header = 1, next(reader)
        while not any(cell.strip() for cell in header):
            header_row, header = header_row + 1, next(reader)
        columns: dict[int, str] = {}
        headers: dict[str, str] = {}
        for index, title in enumerate(header):
            name = _HEADER_FIELD.get(_header_key(title))
            if name is None:
                if title.strip():
                    plan.ignored_columns.append(title.strip())
            elif name in headers:
                plan.errors.append(
                    _("The columns “%(first)s” and “%(second)s” both give %(field)s; keep one.")
                    % {"first": headers[name], "second": title.strip(), "field": name}
                )
            else:
                columns[index] = name
                headers[name] = title.strip()
        if NAME not in headers:
            plan.errors.append(
                _(
                    "The first row must name the columns, with at least “name”; it reads: "
                    "%(header)s. Expected columns: name, country, kind, domains, "
                    "contact e-mails."
                )
                % {"header": ", ".join(h.strip() for h in header if h.strip())}
            )
        if plan.errors:
            return headers, []
        for number, cells in enumerate(reader, start=header_row + 1):
            if number > settings.IMPORT_MAX_ROWS:
                plan.errors.append(imports.too_many_rows_message())
                return headers, []
            if not any(cell.strip() for cell in cells):
                continue
            rows.append(
                (
                    number,
                    {
                        name: cells[index].strip() if index < len(cells) else ""
                        for index, name in columns.items()
                    },
                )
            )
    except StopIteration:
        plan.errors.append(_("The file is empty."))
        return {}, []
    except csv.Error as error:
        plan.errors.append(
            _("Line %(line)s: the file cannot be read as CSV (%(error)s).")
            % {"line": reader.line_num, "error": error}
        )
        return {}, []
    return headers, rows


# --- values of a row --------------------------------------------------------------------


def _kinds() -> dict[str, str]:
    """Kind by every way of writing it: its value, with spaces, its label (English and
    the language in use), all reduced like header names."""
    table = {}
    for kind in Organisation.Kind:
        with override("en"):
            english = str(kind.label)
        for written in (kind.value, english, str(kind.label)):
            table[_header_key(written)] = kind.value
    return table


def parse_country(value: str) -> str:
    """An ISO 3166 alpha-2 code from a code or an English name; ValidationError if neither."""
    value = " ".join(value.split())
    if len(value) == 2 and value.isalpha() and countries.alpha2(value):
        return countries.alpha2(value)
    code = countries.by_name(value)
    if not code:
        raise ValidationError(_("“%(value)s” is not a country.") % {"value": value})
    return code


def parse_kind(value: str, kinds: dict[str, str] | None = None) -> str:
    """An `Organisation.Kind` value from a value or a label, in any case."""
    kind = (kinds or _kinds()).get(_header_key(value))
    if kind is None:
        raise ValidationError(
            _("“%(value)s” is not a kind of organisation; use one of: %(kinds)s.")
            % {"value": value, "kinds": ", ".join(str(k.label) for k in Organisation.Kind)}
        )
    return kind


def parse_domain(value: str) -> str:
    domain = membership.normalise_domain(value)
    if len(domain) > 253:
        raise ValidationError(_("“%(value)s” is too long for a domain.") % {"value": value})
    if domain in membership.FREE_MAIL_DOMAINS:
        raise ValidationError(
            _("anyone can get an address at %(domain)s, so it cannot confirm members.")
            % {"domain": domain}
        )
    return domain


def parse_email(value: str) -> str:
    email = value.strip().lower()
    max_length = OrganisationContact._meta.get_field("email").max_length
    try:
        validate_email(email)
        if len(email) > max_length:
            raise ValidationError("too long")
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not an e-mail address.") % {"value": value}
        ) from None
    return email


# --- the plan ---------------------------------------------------------------------------


def _chunks(values: Iterable, size: int = _CHUNK) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _casefold_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def crm_import_plan(
    *, cluster: Cluster, text: str, progress: Callable[[int, int], None] | None = None
) -> ImportPlan:
    """What importing `text` into `cluster` would change, and what is wrong with it.
    Reads, never writes; the number of queries does not grow with the rows. `progress`
    is told (rows read, rows in all) now and then."""
    plan = ImportPlan()
    headers, raw_rows = _read(text, plan)
    if plan.errors:
        return plan

    def error(row: RowPlan, column: str, message: str) -> None:
        row.error_columns.add(column)
        row.errors.append(
            _("Row %(row)s, %(column)s: %(message)s")
            % {"row": row.line, "column": headers.get(column, column), "message": message}
        )

    kinds = _kinds()
    for index, (line, cells) in enumerate(raw_rows):
        if progress is not None and index and not index % imports.PROGRESS_EVERY_ROWS:
            progress(index, len(raw_rows))
        row = RowPlan(line=line, name=" ".join(cells.get(NAME, "").split()))
        if not row.name:
            error(row, NAME, _("the organisation's name is missing."))
        elif len(row.name) > Organisation._meta.get_field("name").max_length:
            error(row, NAME, _("the name is longer than 200 characters."))
        elif NOT_ONE_LINE.search(row.name):
            # A NUL cannot even be stored in PostgreSQL; nothing invisible goes into a name.
            error(row, NAME, _("the name holds an invisible control character."))
        parsers = ((COUNTRY, parse_country), (KIND, lambda v: parse_kind(v, kinds)))
        for column, parse in parsers:
            if cells.get(column):
                try:
                    setattr(row, column, parse(cells[column]))
                except ValidationError as e:
                    error(row, column, " ".join(e.messages))
        for column, parse in ((DOMAINS, parse_domain), (CONTACTS, parse_email)):
            for value in _split_cell(cells.get(column, "")):
                try:
                    parsed = parse(value)
                except ValidationError as e:
                    error(row, column, " ".join(e.messages))
                else:
                    if parsed not in getattr(row, column):
                        getattr(row, column).append(parsed)
        plan.rows.append(row)

    _match_existing(plan=plan, cluster=cluster, error=error)
    _check_across_rows(plan=plan, error=error)
    if progress is not None:
        progress(len(raw_rows), len(raw_rows))
    return plan


def _match_existing(*, plan: ImportPlan, cluster: Cluster, error) -> None:
    """Match rows to existing organisations, memberships, domains and contacts."""
    wanted = {_casefold_name(row.name) for row in plan.rows if row.name}
    pks_by_name: dict[str, list[int]] = {}
    for pk, name in Organisation.objects.values_list("pk", "name").order_by("pk").iterator():
        key = _casefold_name(name)
        if key in wanted:
            pks_by_name.setdefault(key, []).append(pk)
    found = Organisation.objects.in_bulk([pks[0] for pks in pks_by_name.values()])
    memberships = {
        m.organisation_id: m
        for pks in _chunks(found)
        for m in ClusterMembership.objects.filter(cluster=cluster, organisation_id__in=pks)
    }
    all_domains = {d for row in plan.rows for d in row.domains}
    owners = {
        rule.domain: rule.organisation
        for chunk in _chunks(all_domains)
        for rule in OrganisationDomain.objects.filter(domain__in=chunk).select_related(
            "organisation"
        )
    }
    all_contacts = {c for row in plan.rows for c in row.contacts}
    listed: dict[str, list[Organisation]] = {}
    for chunk in _chunks(all_contacts):
        contacts = (
            OrganisationContact.objects.annotate(address=Lower("email"))
            .filter(address__in=chunk)
            .select_related("organisation")
            .order_by("pk")
        )
        for contact in contacts:
            listed.setdefault(contact.address, []).append(contact.organisation)

    for row in plan.rows:
        if not row.name:
            continue
        pks = pks_by_name.get(_casefold_name(row.name), [])
        if len(pks) > 1:
            error(
                row,
                NAME,
                _(
                    "%(count)d organisations on this site are called “%(name)s”; rename all "
                    "but one on the site first."
                )
                % {"count": len(pks), "name": row.name},
            )
            continue
        row.organisation = found.get(pks[0]) if pks else None
        organisation = row.organisation
        if organisation is None:
            if not row.country and COUNTRY not in row.error_columns:
                error(row, COUNTRY, _("a new organisation needs a country."))
        else:
            row.membership = memberships.get(organisation.pk)
            _warn_differences(row)
        for domain in row.domains:
            owner = owners.get(domain)
            if owner is None:
                row.new_domains.append(domain)
            elif organisation is None or owner.pk != organisation.pk:
                error(
                    row,
                    DOMAINS,
                    _("%(domain)s already confirms members of another organisation, “%(owner)s”.")
                    % {"domain": domain, "owner": owner.name},
                )
        for email in row.contacts:
            elsewhere = [
                o for o in listed.get(email, []) if organisation is None or o.pk != organisation.pk
            ]
            if elsewhere:
                error(
                    row,
                    CONTACTS,
                    _(
                        "%(email)s is already the contact of “%(other)s”; a person can be the "
                        "admin of one organisation only."
                    )
                    % {"email": email, "other": elsewhere[0].name},
                )
            elif organisation is None or organisation not in listed.get(email, []):
                row.new_contacts.append(email)


def _warn_differences(row: RowPlan) -> None:
    organisation = row.organisation
    if row.country and row.country != organisation.country.code:
        row.warnings.append(
            _(
                "Row %(row)s: the site has %(site)s as country, the file %(file)s; the site's "
                "value stays."
            )
            % {
                "row": row.line,
                "site": organisation.country.name or "—",
                "file": countries.name(row.country),
            }
        )
    if row.kind and row.kind != organisation.kind:
        row.warnings.append(
            _(
                "Row %(row)s: the site has %(site)s as kind, the file %(file)s; the site's "
                "value stays."
            )
            % {
                "row": row.line,
                "site": organisation.get_kind_display(),
                "file": Organisation.Kind(row.kind).label,
            }
        )
    if row.membership is not None and row.membership.status != ClusterMembership.Status.MEMBER:
        row.warnings.append(
            _(
                "Row %(row)s: already in the cluster as “%(status)s”; the import leaves that "
                "membership as it is."
            )
            % {"row": row.line, "status": row.membership.get_status_display()}
        )


def _check_across_rows(*, plan: ImportPlan, error) -> None:
    """The same organisation twice, or one domain or contact for two organisations."""
    names: dict[str, RowPlan] = {}
    domains: dict[str, RowPlan] = {}
    contacts: dict[str, RowPlan] = {}
    for row in plan.rows:
        if not row.name:
            continue
        first = names.setdefault(_casefold_name(row.name), row)
        if first is not row:
            error(
                row,
                NAME,
                _("“%(name)s” is already in row %(row)s; give each organisation one row.")
                % {"name": row.name, "row": first.line},
            )
            continue
        for domain in row.domains:
            first = domains.setdefault(domain, row)
            if first is not row:
                error(
                    row,
                    DOMAINS,
                    _("%(domain)s is already given for “%(name)s” in row %(row)s.")
                    % {"domain": domain, "name": first.name, "row": first.line},
                )
        for email in row.contacts:
            first = contacts.setdefault(email, row)
            if first is not row:
                error(
                    row,
                    CONTACTS,
                    _("%(email)s is already given for “%(name)s” in row %(row)s.")
                    % {"email": email, "name": first.name, "row": first.line},
                )


# --- applying it ------------------------------------------------------------------------


@transaction.atomic
def crm_import_apply(*, cluster: Cluster, text: str, by: User) -> ImportResult:
    """Import `text` into `cluster` as one of its organisers: everything or, when any row
    has an error, nothing (ValidationError listing every error).

    Missing organisations are created, organisations without a membership of the cluster
    join as members (an existing membership, a former one too, stays as it is), missing
    domains and contacts are added, and one IMPORTED log entry is written per organisation
    that changed. Then people who already hold a verified address that is a new contact or
    at a new domain are confirmed at once (`membership.affiliation_apply_address_rules`).
    """
    if not selectors.user_manages_cluster(user=by, cluster=cluster):
        raise PermissionDenied
    # One import of a cluster at a time: the second sees what the first wrote.
    Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
    plan = crm_import_plan(cluster=cluster, text=text)
    if plan.has_errors:
        raise ValidationError(plan.all_errors, code="invalid_import")
    try:
        with transaction.atomic():
            result = _write(plan=plan, cluster=cluster, by=by)
    except IntegrityError:
        # A domain or organisation written by someone else since the plan was read.
        raise ValidationError(
            _(
                "The organisations changed while the file was being imported; nothing was "
                "imported. Preview the file again."
            ),
            code="conflict",
        ) from None
    confirmed = _confirm_people(
        domains={d for row in plan.rows for d in row.new_domains},
        contacts={c for row in plan.rows for c in row.new_contacts},
    )
    return dataclasses.replace(result, people_confirmed=confirmed)


def _unique_slugs(names: list[str]) -> list[str]:
    taken = set(Organisation.objects.values_list("slug", flat=True).iterator())
    max_length = Organisation._meta.get_field("slug").max_length
    slugs = []
    for name in names:
        base = slugify(name)[:max_length].strip("-") or "organisation"
        slug, n = base, 1
        while slug in taken:
            n += 1
            suffix = f"-{n}"
            slug = base[: max_length - len(suffix)].rstrip("-") + suffix
        taken.add(slug)
        slugs.append(slug)
    return slugs


def _write(*, plan: ImportPlan, cluster: Cluster, by: User) -> ImportResult:
    rows = [row for row in plan.rows if row.changed]
    new = [row for row in rows if row.new_organisation]
    created = Organisation.objects.bulk_create(
        [
            Organisation(
                name=row.name,
                slug=slug,
                country=row.country,
                kind=row.kind or Organisation.Kind.OTHER,
            )
            for row, slug in zip(new, _unique_slugs([row.name for row in new]), strict=True)
        ],
        batch_size=_CHUNK,
    )
    for row, organisation in zip(new, created, strict=True):
        row.organisation = organisation
    ClusterMembership.objects.bulk_create(
        [
            ClusterMembership(
                cluster=cluster,
                organisation=row.organisation,
                status=ClusterMembership.Status.MEMBER,
                joined_on=None,
            )
            for row in rows
            if row.joins_cluster
        ],
        batch_size=_CHUNK,
    )
    OrganisationDomain.objects.bulk_create(
        [
            OrganisationDomain(organisation=row.organisation, domain=d)
            for row in rows
            for d in row.new_domains
        ],
        batch_size=_CHUNK,
    )
    OrganisationContact.objects.bulk_create(
        [
            OrganisationContact(organisation=row.organisation, email=c)
            for row in rows
            for c in row.new_contacts
        ],
        batch_size=_CHUNK,
    )
    MembershipLog.objects.bulk_create(
        [
            MembershipLog(
                action=MembershipLog.Action.IMPORTED,
                actor=by,
                organisation=row.organisation,
                cluster=cluster,
                detail=_log_detail(row)[:240],
            )
            for row in rows
        ],
        batch_size=_CHUNK,
    )
    return ImportResult(
        organisations=len(new),
        memberships=sum(1 for row in rows if row.joins_cluster),
        domains=sum(len(row.new_domains) for row in rows),
        contacts=sum(len(row.new_contacts) for row in rows),
    )


def _log_detail(row: RowPlan) -> str:
    """What changed, without the contacts' addresses: the log outlives people's data."""
    parts = []
    if row.new_organisation:
        parts.append("new organisation")
    if row.joins_cluster:
        parts.append("joined as member")
    if row.new_domains:
        parts.append("domains " + ", ".join(row.new_domains))
    if row.new_contacts:
        parts.append(f"contacts +{len(row.new_contacts)}")
    return "; ".join(parts)


def _confirm_people(*, domains: set[str], contacts: set[str]) -> int:
    """Confirm the active accounts holding a verified address that is one of `contacts`
    or at one of `domains`; the number whose open affiliation changed."""
    if not domains and not contacts:
        return 0
    verified = (
        EmailAddress.objects.filter(verified=True, user__is_active=True)
        .annotate(address=Lower("email"))
        .annotate(address_domain=Substr("address", StrIndex("address", Value("@")) + 1))
    )
    user_ids: set[int] = set()
    for chunk in _chunks(contacts):
        user_ids.update(verified.filter(address__in=chunk).values_list("user_id", flat=True))
    for chunk in _chunks(domains):
        user_ids.update(verified.filter(address_domain__in=chunk).values_list("user_id", flat=True))
    open_affiliations = Affiliation.objects.filter(status__in=Affiliation.OPEN)
    before = {
        user_id: (status, organisation_id, is_admin)
        for chunk in _chunks(user_ids)
        for user_id, status, organisation_id, is_admin in open_affiliations.filter(
            user_id__in=chunk
        ).values_list("user_id", "status", "organisation_id", "is_admin")
    }
    changed = 0
    for chunk in _chunks(sorted(user_ids)):
        for user in User.objects.filter(pk__in=chunk).order_by("pk"):
            affiliation = membership.affiliation_apply_address_rules(user=user)
            after = (
                (affiliation.status, affiliation.organisation_id, affiliation.is_admin)
                if affiliation
                else None
            )
            changed += after != before.get(user.pk)
    return changed


# --- in the background ------------------------------------------------------------------
# The preview and the import each run as a job (`members.imports`): the upload queues a
# preview; its page shows the plan and, when nothing is wrong, offers to import exactly
# that file, which queues the import. Both are safe to run again.

PREVIEW_MAX_AGE = timedelta(hours=1)


def scope_of(cluster: Cluster) -> str:
    return f"cluster:{cluster.pk}"


def crm_import_preview_queue(*, cluster: Cluster, by: User, file_name: str, text: str) -> ImportJob:
    """Store a checked file (`decode_csv`) and queue its preview."""
    from members.tasks import crm_import_preview_task

    if not selectors.user_manages_cluster(user=by, cluster=cluster):
        raise PermissionDenied
    return imports.import_job_create(
        kind=ImportJob.Kind.CRM_PREVIEW,
        scope=scope_of(cluster),
        actor=by,
        task=crm_import_preview_task,
        file_name=file_name,
        content=text.encode("utf-8"),
    )


def crm_import_apply_queue(*, preview: ImportJob, cluster: Cluster, by: User) -> ImportJob:
    """Queue the import of a finished preview without errors; the import already queued
    for it if there is one (pressing "Import" twice imports once)."""
    from members.tasks import crm_import_apply_task

    if not selectors.user_manages_cluster(user=by, cluster=cluster):
        raise PermissionDenied
    with transaction.atomic():
        preview = ImportJob.objects.select_for_update().defer("content").get(pk=preview.pk)
        existing = ImportJob.objects.defer("content").filter(source=preview).first()
        if existing is not None:
            return existing
        if (
            preview.kind != ImportJob.Kind.CRM_PREVIEW
            or preview.scope != scope_of(cluster)
            or preview.status != ImportJob.Status.DONE
            or preview.result.get("has_errors")
            or not preview.result.get("changes_anything")
        ):
            raise ValidationError(_("This preview cannot be imported."), code="not_importable")
        if preview.finished_at < timezone.now() - PREVIEW_MAX_AGE:
            raise ValidationError(
                _("This preview is more than an hour old; upload the file again."),
                code="expired",
            )
        return imports.import_job_create(
            kind=ImportJob.Kind.CRM_APPLY,
            scope=scope_of(cluster),
            actor=by,
            task=crm_import_apply_task,
            file_name=preview.file_name,
            source=preview,
        )


def crm_import_retry(*, job: ImportJob, by: User) -> ImportJob:
    from members.tasks import crm_import_apply_task, crm_import_preview_task

    apply = job.kind == ImportJob.Kind.CRM_APPLY
    task = crm_import_apply_task if apply else crm_import_preview_task
    return imports.import_job_retry(job=job, by=by, task=task)


def crm_import_job_get(*, user: User, cluster: Cluster, job_id: int) -> ImportJob:
    return imports.import_job_get(
        user=user,
        job_id=job_id,
        kinds=[ImportJob.Kind.CRM_PREVIEW, ImportJob.Kind.CRM_APPLY],
        scope=scope_of(cluster),
    )


def crm_import_jobs_recent(*, user: User, cluster: Cluster) -> list[ImportJob]:
    return imports.import_jobs_recent(
        user=user,
        kinds=[ImportJob.Kind.CRM_PREVIEW, ImportJob.Kind.CRM_APPLY],
        scope=scope_of(cluster),
    )


def crm_import_preview_run(*, job_id: int) -> None:
    imports.import_job_run(job_id=job_id, work=_preview)


def crm_import_apply_run(*, job_id: int) -> None:
    imports.import_job_run(job_id=job_id, work=_apply)


def _job_cluster(job: ImportJob) -> Cluster:
    cluster = Cluster.objects.filter(pk=int(job.scope.removeprefix("cluster:"))).first()
    if cluster is None:
        raise ValidationError(_("The cluster no longer exists."))
    return cluster


def _preview(job: ImportJob) -> dict[str, Any]:
    plan = crm_import_plan(
        cluster=_job_cluster(job),
        text=bytes(job.content).decode("utf-8"),
        progress=lambda done, total: imports.import_job_progress(
            job=job, rows_done=done, rows_total=total
        ),
    )
    return plan_summary(plan)


def _apply(job: ImportJob) -> dict[str, Any]:
    cluster = _job_cluster(job)
    if job.source is None or not job.source.content:
        raise ValidationError(_("The file of this preview is no longer kept; upload it again."))
    try:
        result = crm_import_apply(
            cluster=cluster, text=bytes(job.source.content).decode("utf-8"), by=job.actor
        )
    except PermissionDenied:
        raise ValidationError(
            _("Only organisers of the cluster can import; nothing was imported.")
        ) from None
    except ValidationError as error:
        raise ValidationError(
            [_("Nothing was imported: the site changed since the preview."), *error.messages]
        ) from None
    return dataclasses.asdict(result)


def plan_summary(plan: ImportPlan) -> dict[str, Any]:
    """The preview as its page shows it, for the job's result: the totals, the file's
    errors, and rows in file order — all of them, or for a long file every row with an
    error first and then the others, up to `imports.RESULT_ROWS_SHOWN`."""
    limit = imports.RESULT_ROWS_SHOWN
    shown = plan.rows
    if len(shown) > limit:
        with_errors = [row for row in plan.rows if row.errors][:limit]
        others = [row for row in plan.rows if not row.errors][: limit - len(with_errors)]
        shown = sorted(with_errors + others, key=lambda row: row.line)
    return {
        "rows": [
            {
                "line": row.line,
                "name": row.name,
                "organisation": (
                    {"name": row.organisation.name, "url": row.organisation.get_absolute_url()}
                    if row.organisation
                    else None
                ),
                "changes": [] if row.errors else [str(change) for change in row.changes],
                "errors": row.errors,
                "warnings": row.warnings,
            }
            for row in shown
        ],
        "rows_total": len(plan.rows),
        "errors": plan.errors,
        "ignored_columns": plan.ignored_columns,
        "new_organisations": plan.new_organisations,
        "new_memberships": plan.new_memberships,
        "new_domains": plan.new_domains,
        "new_contacts": plan.new_contacts,
        "rows_with_errors": plan.rows_with_errors,
        "has_errors": plan.has_errors,
        "changes_anything": plan.changes_anything,
    }
