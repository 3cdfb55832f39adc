from django.contrib import admin

from matchmaking.brokerage import admin as brokerage_admin  # noqa: F401 -- registers its models
from matchmaking.models import (
    Application,
    Circle,
    Feedback,
    Match,
    MatchingRun,
    MeetingLog,
    PairRule,
    Programme,
)
from members.admin import GenderSafeAdmin


@admin.register(Programme)
class ProgrammeAdmin(GenderSafeAdmin):
    list_display = ["title", "format", "status", "applications_open_at", "starts_on", "ends_on"]
    list_filter = ["format", "status", "clusters"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["clusters"]


@admin.register(Application)
class ApplicationAdmin(GenderSafeAdmin):
    # A gender preference hints at a person's own views: GenderSafeAdmin keeps it, and the
    # mentor's consent to gender matching, out of every column, filter, lookup and form.
    list_display = ["__str__", "programme", "user", "role", "status", "created_at"]
    list_filter = ["role", "status", "programme"]
    search_fields = ["user__email", "user__profile__display_name", "programme__title"]
    list_select_related = ["programme", "user"]
    raw_id_fields = ["user", "organisation", "reviewed_by"]
    filter_horizontal = ["topics", "languages", "sectors", "preferred_sectors"]
    exclude = ["avoid"]


@admin.register(PairRule)
class PairRuleAdmin(GenderSafeAdmin):
    list_display = ["__str__", "kind", "mentor", "mentee", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["programme", "mentor", "mentee", "created_by"]


@admin.register(MatchingRun)
class MatchingRunAdmin(GenderSafeAdmin):
    list_display = ["__str__", "created_at", "mentees", "placed", "total_score", "certified",
                    "pruned", "seconds", "published_at"]  # fmt: skip
    list_filter = ["certified", "pruned"]
    list_select_related = ["programme"]
    readonly_fields = [f.name for f in MatchingRun._meta.fields]


@admin.register(Circle)
class CircleAdmin(GenderSafeAdmin):
    list_display = ["name", "programme", "mentor", "event"]
    list_select_related = ["programme", "mentor", "event"]
    raw_id_fields = ["programme", "mentor", "event", "language"]


@admin.register(Match)
class MatchAdmin(GenderSafeAdmin):
    """Status and timeline only: the pair's goals, progress and notes are theirs."""

    list_display = ["__str__", "programme", "status", "score", "published_at", "respond_by"]
    list_filter = ["status", "programme"]
    list_select_related = ["programme"]
    fields = ["programme", "run", "mentor", "mentee", "circle", "score", "reasons", "rules",
              "status", "mentor_answer", "mentee_answer", "published_at", "respond_by",
              "accepted_at", "ended_at", "end_reason", "last_met_on", "nudged_at"]  # fmt: skip
    readonly_fields = fields


@admin.register(MeetingLog)
class MeetingLogAdmin(GenderSafeAdmin):
    list_display = ["__str__", "met_on", "created_at"]
    fields = ["match", "met_on", "logged_by", "created_at"]
    readonly_fields = fields


@admin.register(Feedback)
class FeedbackAdmin(GenderSafeAdmin):
    list_display = ["__str__", "rating", "created_at"]
    list_filter = ["rating"]
    fields = ["match", "author", "rating", "comment", "created_at"]
    readonly_fields = fields
