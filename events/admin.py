from django.contrib import admin

from events.models import CalendarFeed, Event, Invitation, Registration, Session, StageRole
from members.admin import GenderSafeAdmin, GenderSafeInline


class SessionInline(GenderSafeInline, admin.TabularInline):
    model = Session
    extra = 0
    fields = ["title", "kind", "track", "room", "starts_at", "ends_at", "capacity", "is_cancelled"]


class StageRoleInline(GenderSafeInline, admin.TabularInline):
    model = StageRole
    extra = 0
    # A guest's gender is entered on the organiser pages with consent; GenderSafeInline
    # keeps it off this form.
    fields = ["role", "session", "profile", "guest_name", "guest_organisation", "order"]
    autocomplete_fields = ["profile"]


@admin.register(Event)
class EventAdmin(GenderSafeAdmin):
    list_display = ["title", "kind", "status", "starts_at", "capacity", "audience"]
    list_filter = ["kind", "status", "audience", "clusters"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["clusters", "topics"]
    date_hierarchy = "starts_at"
    # Capacity changes go through the organiser pages: they check seats taken and fill
    # the waitlist under the capacity lock.
    readonly_fields = ["uid", "sequence", "created_by", "capacity"]
    inlines = [SessionInline, StageRoleInline]


@admin.register(Session)
class SessionAdmin(GenderSafeAdmin):
    list_display = ["title", "event", "kind", "track", "room", "starts_at", "capacity"]
    list_filter = ["kind"]
    search_fields = ["title", "event__title"]
    list_select_related = ["event"]
    readonly_fields = ["uid", "sequence"]


@admin.register(Registration)
class RegistrationAdmin(GenderSafeAdmin):
    """Read-only: every change goes through the registration services (capacity locking)."""

    list_display = [
        "__str__",
        "event",
        "session",
        "user",
        "status",
        "waitlist_position",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["event__title", "user__email"]
    list_select_related = ["event", "session", "user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(GenderSafeAdmin):
    list_display = ["email", "event", "created_at"]
    search_fields = ["email", "event__title"]


@admin.register(StageRole)
class StageRoleAdmin(GenderSafeAdmin):
    list_display = ["__str__", "role", "event", "session"]
    list_filter = ["role"]
    fields = ["event", "session", "role", "profile", "guest_name", "guest_organisation", "order"]
    autocomplete_fields = ["profile"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(GenderSafeAdmin):
    list_display = ["__str__", "created_at"]
    exclude = ["token"]
