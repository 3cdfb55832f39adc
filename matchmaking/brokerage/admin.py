"""Admin of brokerage days, for staff: settings, blocks, slots, tables, participants,
offers and requests, meetings and scheduler runs. Imported by `matchmaking/admin.py`.

Every class is a `GenderSafeAdmin` (no gender column, filter, search or lookup, also
through the participant's user). Meetings show status, place and feedback flags; the
calendar sequence and the seats are never edited here — they change only through
`matchmaking.brokerage.services`, or the agenda mail would disagree with the database.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingBlock,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
    Table,
)
from members.admin import GenderSafeAdmin


@admin.register(BrokerageSettings)
class BrokerageSettingsAdmin(GenderSafeAdmin):
    list_display = ["event", "scheduling", "request_expiry_hours", "default_max_meetings",
                    "marketplace_open", "schedule_published_at"]  # fmt: skip
    list_filter = ["scheduling", "marketplace_open"]
    search_fields = ["event__title", "event__slug"]
    list_select_related = ["event"]
    raw_id_fields = ["event"]
    readonly_fields = ["schedule_published_at", "created_at", "updated_at"]


class SlotInline(admin.TabularInline):
    model = Slot
    fields = ["starts_at", "ends_at", "is_break"]
    readonly_fields = ["starts_at", "ends_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # slots are cut from the block by day_setup


@admin.register(MeetingBlock)
class MeetingBlockAdmin(GenderSafeAdmin):
    """Times are changed on the organiser pages, which rewrite the slots and protect
    placed meetings; here they are read-only."""

    list_display = ["__str__", "event", "starts_at", "ends_at", "slot_minutes", "gap_minutes"]
    search_fields = ["name", "event__title", "event__slug"]
    list_select_related = ["event"]
    raw_id_fields = ["event"]
    readonly_fields = ["event", "starts_at", "ends_at", "slot_minutes", "gap_minutes"]
    inlines = [SlotInline]


@admin.register(Slot)
class SlotAdmin(GenderSafeAdmin):
    list_display = ["__str__", "event", "block", "starts_at", "ends_at", "is_break"]
    list_filter = ["is_break"]
    search_fields = ["event__title", "event__slug"]
    list_select_related = ["event", "block"]
    readonly_fields = ["event", "block", "starts_at", "ends_at", "is_break"]

    def has_add_permission(self, request):
        return False


@admin.register(Table)
class TableAdmin(GenderSafeAdmin):
    list_display = ["name", "event", "position", "is_active", "is_online"]
    list_filter = ["is_active"]
    search_fields = ["name", "event__title", "event__slug"]
    list_select_related = ["event"]
    raw_id_fields = ["event"]

    @admin.display(boolean=True, description=_("online room"))
    def is_online(self, obj):
        return obj.is_online


class MarketItemInline(admin.TabularInline):
    model = MarketItem
    fields = ["direction", "type", "title"]
    extra = 0
    show_change_link = True


@admin.register(Participant)
class ParticipantAdmin(GenderSafeAdmin):
    list_display = ["__str__", "event", "user", "organisation_kind", "max_meetings", "joined_at"]
    list_filter = ["organisation_kind"]
    search_fields = ["user__email", "user__profile__display_name", "event__title", "event__slug"]
    list_select_related = ["event", "user"]
    raw_id_fields = ["event", "user"]
    filter_horizontal = ["blocks"]
    readonly_fields = ["joined_at", "updated_at"]
    inlines = [MarketItemInline]


@admin.register(MarketItem)
class MarketItemAdmin(GenderSafeAdmin):
    list_display = ["title", "participant", "direction", "type", "created_at"]
    list_filter = ["direction", "type"]
    search_fields = ["title", "participant__user__email", "participant__event__slug"]
    list_select_related = ["participant__user", "participant__event"]
    raw_id_fields = ["participant"]
    filter_horizontal = ["topics"]


class MeetingSeatInline(admin.TabularInline):
    model = MeetingSeat
    fields = ["participant", "slot"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Meeting)
class MeetingAdmin(GenderSafeAdmin):
    """Read-only: a meeting changes only through the services (seats, calendar sequence,
    mail to both sides)."""

    list_display = ["__str__", "event", "requester", "recipient", "status", "slot", "table",
                    "published_at", "checked_in_at"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["event__slug", "requester__user__email", "recipient__user__email"]
    list_select_related = ["event", "requester__user", "recipient__user", "slot", "table"]
    fields = ["event", "requester", "recipient", "message", "status", "created_at",
              "expires_at", "answered_at", "slot", "table", "published_at", "sequence",
              "checked_in_at", "requester_held", "recipient_held", "requester_follow_up",
              "recipient_follow_up", "updated_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [MeetingSeatInline]

    def has_add_permission(self, request):
        return False


@admin.register(ScheduleRun)
class ScheduleRunAdmin(GenderSafeAdmin):
    list_display = ["__str__", "event", "outcome", "accepted", "scheduled", "upper_bound",
                    "kept", "moved", "seconds", "created_at", "published_at"]  # fmt: skip
    list_filter = ["outcome", "allow_moves"]
    search_fields = ["event__title", "event__slug"]
    list_select_related = ["event"]
    readonly_fields = [f.name for f in ScheduleRun._meta.fields]

    def has_add_permission(self, request):
        return False
