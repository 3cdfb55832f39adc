"""The admin of members data, and the guard every admin of the site goes through.

Gender is for its owner and `members/privacy.py` only. `GenderSafeAdmin` refuses the fields
of `privacy.GENDER_FIELDS` in every way a changelist or a form could reach them: URL
lookups (also across relations, whatever `list_filter` says), search, ordering, columns,
filters and form fields. `admin_site_guard_gender` gives every admin registered on a site,
third-party ones included, the same guard; `gender_admin_check` fails `manage.py check`
when an admin names a gender field or went unguarded.
"""

from functools import cache

from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.admin.sites import all_sites
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db.models import F, Model
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from members import contact, services
from members.models import (
    Affiliation,
    Cluster,
    ClusterMembership,
    ClusterOrganiser,
    ContactMessage,
    ContactReport,
    GenderIdentity,
    Language,
    MembershipLog,
    Organisation,
    OrganisationContact,
    OrganisationDomain,
    Profile,
    Sector,
    StatisticsAccess,
    Topic,
    User,
)
from members.privacy import GENDER_FIELDS


def reaches_gender(model: type[Model], path: object) -> bool:
    """Whether a lookup, search, ordering or field path walks from `model` onto a gender
    field: `gender_identity__gender__in`, `-mentee__preferred_mentor_gender`, `^guest_gender`.
    Anything that is not a path (a callable, a filter class) reaches nothing."""
    if isinstance(path, F):
        path = path.name
    if not isinstance(path, str):
        return False
    opts = model._meta
    for part in path.lstrip("-?^=@").split(LOOKUP_SEP):
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return False  # a lookup or transform of the field before it (`__startswith`)
        if (field.model._meta.concrete_model._meta.label, field.name) in GENDER_FIELDS:
            return True
        if field.related_model is None:
            return False
        opts = field.related_model._meta
    return False


def _paths(value: object) -> list[object]:
    """The paths an ordering value names: a string, an F() or an expression over F()s."""
    if hasattr(value, "flatten"):
        return [part for part in value.flatten() if isinstance(part, F)]
    return [value]


def _names_gender(model: type[Model], name: object) -> bool:
    if isinstance(name, (list, tuple)):  # `(path, FilterClass)` in list_filter
        name = name[0]
    return reaches_gender(model, name)


def _without_gender(model: type[Model], names) -> list:
    return [name for name in names or () if not _names_gender(model, name)]


def _fieldset_without_gender(model: type[Model], fields) -> list:
    """A fieldset's fields less gender; a tuple in it is several fields on one line."""
    kept = []
    for entry in fields:
        if isinstance(entry, (list, tuple)):
            line = _without_gender(model, entry)
            if line:
                kept.append(tuple(line))
        elif not reaches_gender(model, entry):
            kept.append(entry)
    return kept


def _gender_fields_of(model: type[Model]) -> list[str]:
    return [f.name for f in model._meta.get_fields() if reaches_gender(model, f.name)]


def _column_paths(admin_obj, model: type[Model], column) -> list[object]:
    """What a changelist column reads and sorts by (as ChangeList.get_ordering_field)."""
    attr = column
    if isinstance(column, str):
        attr = getattr(admin_obj, column, None) or getattr(model, column, None)
    if isinstance(attr, property):
        attr = attr.fget
    return [column, *_paths(getattr(attr, "admin_order_field", None))]


class _GenderSafeForm:
    """Change forms, add forms and inlines neither show nor accept gender fields."""

    def get_fields(self, request, obj=None):
        return _fieldset_without_gender(self.model, super().get_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        return [
            (title, {**opts, "fields": _fieldset_without_gender(self.model, opts["fields"])})
            for title, opts in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        return _without_gender(self.model, super().get_readonly_fields(request, obj))

    def get_exclude(self, request, obj=None):
        exclude = super().get_exclude(request, obj)
        if exclude is None:  # Django then honours the form's own Meta.exclude: keep it
            exclude = getattr(getattr(self.form, "_meta", None), "exclude", None)
        return [*(exclude or ()), *_gender_fields_of(self.model)]


class GenderSafeInline(_GenderSafeForm, InlineModelAdmin):
    """Base of inlines; `GenderSafeAdmin` puts every inline it shows through it anyway."""


class GenderSafeAdmin(_GenderSafeForm, admin.ModelAdmin):
    """Base of every ModelAdmin of the site: no gender field in any changelist or form.

    A refused URL lookup answers as Django does for any disallowed lookup (400), never a
    filtered list. Before a third-party base it works as a mixin: `(GenderSafeAdmin, X)`.
    """

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        if reaches_gender(model, self.date_hierarchy):
            self.date_hierarchy = None  # its year and month links would tell when

    def lookup_allowed(self, lookup, value, request):
        if reaches_gender(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def to_field_allowed(self, request, to_field):
        if reaches_gender(self.model, to_field):
            return False
        return super().to_field_allowed(request, to_field)

    def _shows_or_sorts_gender(self, column) -> bool:
        return any(reaches_gender(self.model, p) for p in _column_paths(self, self.model, column))

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return [column for column in columns if not self._shows_or_sorts_gender(column)]

    def get_sortable_by(self, request):
        columns = super().get_sortable_by(request)
        return [column for column in columns if not self._shows_or_sorts_gender(column)]

    def get_list_filter(self, request):
        return _without_gender(self.model, super().get_list_filter(request))

    def get_search_fields(self, request):
        return _without_gender(self.model, super().get_search_fields(request))

    def get_ordering(self, request):
        return [
            order
            for order in super().get_ordering(request)
            if not any(reaches_gender(self.model, p) for p in _paths(order))
        ]

    def get_changelist_formset(self, request, **kwargs):
        exclude = [*(kwargs.pop("exclude", None) or ()), *_gender_fields_of(self.model)]
        return super().get_changelist_formset(request, exclude=exclude, **kwargs)

    def get_inlines(self, request, obj):
        return [gender_safe(inline) for inline in super().get_inlines(request, obj)]


@cache
def gender_safe(admin_class: type) -> type:
    """`admin_class` itself when it is guarded already, else a guarded subclass of it."""
    if issubclass(admin_class, _GenderSafeForm):
        return admin_class
    guard = GenderSafeAdmin if issubclass(admin_class, admin.ModelAdmin) else GenderSafeInline
    name = f"GenderSafe{admin_class.__name__}"
    return type(name, (guard, admin_class), {"__module__": admin_class.__module__})


def admin_site_guard_gender(*, site: admin.AdminSite) -> None:
    """Re-register every unguarded admin of `site` (allauth's, DRF's, auth's…) guarded."""
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, GenderSafeAdmin):
            site.unregister(model)
            site.register(model, gender_safe(type(model_admin)))


def _listed(value) -> list:
    return list(value or ())


# The options of a ModelAdmin or an inline that name fields, and the names in each.
_NAMING_OPTIONS = {
    "list_display_links": lambda v: _listed(v) if isinstance(v, (list, tuple)) else [],
    "list_editable": _listed,
    "list_filter": lambda v: [n[0] if isinstance(n, (list, tuple)) else n for n in v or ()],
    "search_fields": _listed,
    "ordering": lambda v: [path for order in v or () for path in _paths(order)],
    "sortable_by": _listed,
    "date_hierarchy": lambda v: [v],
    "fields": lambda v: flatten_fieldsets([(None, {"fields": v or ()})]),
    "fieldsets": lambda v: flatten_fieldsets(v or ()),
    "readonly_fields": _listed,
    "raw_id_fields": _listed,
    "autocomplete_fields": _listed,
    "filter_horizontal": _listed,
    "filter_vertical": _listed,
    "radio_fields": _listed,
    "prepopulated_fields": lambda v: [*v, *(path for paths in v.values() for path in paths)],
}


def _gender_named_by(admin_class: type, model: type[Model]) -> list[str]:
    """Where the options of `admin_class` name a gender field, in words."""
    found = [
        f"{option} names {name!r}"
        for option, names_in in _NAMING_OPTIONS.items()
        if hasattr(admin_class, option)
        for name in names_in(getattr(admin_class, option))
        if _names_gender(model, name)
    ]
    found += [
        f"list_display column {column!r} shows or sorts by {path!r}"
        for column in getattr(admin_class, "list_display", ())
        for path in _column_paths(admin_class, model, column)
        if reaches_gender(model, path)
    ]
    found += [
        f"its form declares {name!r}"
        for name in getattr(admin_class.form, "declared_fields", {})
        if reaches_gender(model, name)
    ]
    return found


def gender_admin_errors(site: admin.AdminSite) -> list[checks.Error]:
    """What is wrong with `site` as far as gender goes: an admin without the guard, or one
    that names a gender field (the guard hides it, but naming it is a mistake)."""
    errors = []
    for model, model_admin in site._registry.items():
        if not isinstance(model_admin, GenderSafeAdmin):
            errors.append(
                checks.Error(
                    f"The admin of {model._meta.label} is not a GenderSafeAdmin.",
                    hint="Subclass members.admin.GenderSafeAdmin, or register it before "
                    "members' ready() guards the site.",
                    obj=type(model_admin),
                    id="members.E101",
                )
            )
        named = _gender_named_by(type(model_admin), model)
        for inline in model_admin.inlines:
            named += [f"{inline.__name__}: {f}" for f in _gender_named_by(inline, inline.model)]
        errors += [
            checks.Error(
                f"{type(model_admin).__name__}: {where}, a gender field.",
                hint="Gender is read only through members/privacy.py (see GENDER_FIELDS).",
                obj=type(model_admin),
                id="members.E102",
            )
            for where in named
        ]
    return errors


@checks.register(checks.Tags.admin)
def gender_admin_check(app_configs=None, **kwargs) -> list[checks.Error]:
    return [error for site in all_sites for error in gender_admin_errors(site)]


class ClusterOrganiserInline(GenderSafeInline, admin.TabularInline):
    model = ClusterOrganiser
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(GenderSafeAdmin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "first_name", "last_name", "profile__display_name"]
    readonly_fields = ["last_login", "date_joined", "erased_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Name"), {"fields": ("first_name", "last_name")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined", "erased_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [ClusterOrganiserInline]
    actions = ["erase_personal_data"]

    @admin.action(description=_("Erase personal data (keeps anonymous counts)"))
    def erase_personal_data(self, request, queryset):
        for user in queryset:
            services.account_erase(user=user)
        count = queryset.count()
        self.message_user(
            request,
            ngettext("Erased %(count)d account(s).", "Erased %(count)d account(s).", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(Profile)
class ProfileAdmin(GenderSafeAdmin):
    list_display = ["display_name", "organisation", "country", "mentoring_stance", "visibility"]
    list_filter = ["visibility", "mentoring_stance", "organisation__kind"]
    search_fields = ["display_name", "user__email", "organisation__name"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["user"]
    # The organisation follows the person's confirmed affiliation (members/membership.py).
    readonly_fields = ["organisation", "contact_suspended_at"]
    filter_horizontal = ["languages", "sectors", "expertise", "interests"]


@admin.register(GenderIdentity)
class GenderIdentityAdmin(GenderSafeAdmin):
    """Whose record this is, and nothing of what it says: not the gender, not the words, not
    the consents. Staff need nothing more; the owner changes it on their profile page."""

    list_display = ["__str__"]
    fields = ["user"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Cluster)
class ClusterAdmin(GenderSafeAdmin):
    list_display = ["name", "short_name", "country", "region"]
    search_fields = ["name", "short_name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["sectors"]
    inlines = [ClusterOrganiserInline]


class ReadOnlyInline(admin.TabularInline):
    """Membership is decided on the site's own pages, where each decision is logged and
    the people concerned are told; the admin shows it."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ClusterMembershipInline(ReadOnlyInline):
    model = ClusterMembership
    fields = ["cluster", "status", "joined_on", "left_on"]
    readonly_fields = fields


class OrganisationDomainInline(ReadOnlyInline):
    model = OrganisationDomain
    fields = ["domain", "created_at"]
    readonly_fields = fields


class OrganisationContactInline(ReadOnlyInline):
    model = OrganisationContact
    fields = ["email", "created_at"]
    readonly_fields = fields


@admin.register(Organisation)
class OrganisationAdmin(GenderSafeAdmin):
    list_display = ["name", "kind", "country", "region"]
    list_filter = ["kind", "cluster_memberships__cluster"]
    search_fields = ["name", "region"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["sectors"]
    inlines = [ClusterMembershipInline, OrganisationDomainInline, OrganisationContactInline]


@admin.register(Affiliation)
class AffiliationAdmin(GenderSafeAdmin):
    """People's links to organisations, read-only: answered on the requests page."""

    list_display = ["user", "organisation", "status", "is_admin", "requested_at", "decided_at"]
    list_filter = ["status", "is_admin", "confirmed_via"]
    list_select_related = ["user", "organisation"]
    search_fields = ["user__email", "organisation__name"]
    readonly_fields = [
        "user", "organisation", "status", "is_admin", "confirmed_via", "requested_at",
        "decided_at", "ended_at",
    ]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MembershipLog)
class MembershipLogAdmin(GenderSafeAdmin):
    """Who decided what about membership, and when: read-only, kept as written."""

    list_display = ["at", "actor", "action", "person", "organisation", "cluster", "detail"]
    list_filter = ["action", "cluster"]
    list_select_related = ["actor", "person", "organisation", "cluster"]
    search_fields = ["person__email", "actor__email", "organisation__name", "detail"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor", "action", "person", "organisation", "cluster", "detail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Topic)
class TopicAdmin(GenderSafeAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_by"]


@admin.register(Sector)
class SectorAdmin(GenderSafeAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Language)
class LanguageAdmin(GenderSafeAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(ClusterOrganiser)
class ClusterOrganiserAdmin(GenderSafeAdmin):
    list_display = ["user", "cluster", "created_at"]
    list_filter = ["cluster"]
    autocomplete_fields = ["user", "cluster"]


@admin.register(StatisticsAccess)
class StatisticsAccessAdmin(GenderSafeAdmin):
    """The audit trail of gender-balance figures: read-only, kept as written."""

    list_display = ["at", "user", "cluster", "view"]
    list_filter = ["view", "cluster"]
    list_select_related = ["user", "cluster"]
    search_fields = ["user__email", "view"]
    date_hierarchy = "at"
    readonly_fields = ["at", "user", "cluster", "view", "filters"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ContactMessage)
class ContactMessageAdmin(GenderSafeAdmin):
    """Who wrote to whom and when, never what: a message between members is theirs. Its
    subject and text reach staff only once its recipient reports it (ContactReportAdmin),
    as they reach the organisers of the sender's cluster."""

    list_display = ["created_at", "sender", "recipient", "content_deleted_at"]
    list_select_related = ["sender", "recipient"]
    search_fields = ["sender__email", "recipient__email"]
    date_hierarchy = "created_at"
    fields = ["created_at", "sender", "recipient", "content_deleted_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ContactReport)
class ContactReportAdmin(GenderSafeAdmin):
    """Reported messages, with their text: the recipient handed it over by reporting."""

    list_display = ["created_at", "sender", "reporter", "reason", "handled_at"]
    list_filter = ["reason", ("handled_at", admin.EmptyFieldListFilter)]
    list_select_related = ["sender", "reporter"]
    search_fields = ["sender__email", "reporter__email"]
    date_hierarchy = "created_at"
    fields = [
        "created_at", "sender", "reporter", "reason", "details", "reported_message",
        "handled_at", "handled_by",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["mark_handled", "suspend_senders"]

    @admin.display(description=_("reported message"))
    def reported_message(self, obj: ContactReport) -> str:
        message = obj.message
        if message.content_deleted_at:
            return _("No longer kept.")
        return f"{message.subject}\n\n{message.body}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Mark as handled"))
    def mark_handled(self, request, queryset):
        for report in queryset.select_related("sender"):
            contact.contact_report_handle(report=report, by=request.user)
        self.message_user(request, _("Marked as handled."), messages.SUCCESS)

    @admin.action(description=_("Suspend the senders' messages"))
    def suspend_senders(self, request, queryset):
        senders = {report.sender for report in queryset.select_related("sender")}
        for sender in senders:
            if Profile.objects.filter(user=sender).exists():
                contact.contact_suspend(sender=sender, by=request.user, suspended=True)
        self.message_user(request, _("Their messages are suspended."), messages.SUCCESS)
