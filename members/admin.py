from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from members import services
from members.models import (
    Cluster,
    ClusterOrganiser,
    GenderIdentity,
    Language,
    Organisation,
    Profile,
    Sector,
    StatisticsAccess,
    Topic,
    User,
)


class ClusterOrganiserInline(admin.TabularInline):
    model = ClusterOrganiser
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "first_name", "last_name", "profile__display_name"]
    readonly_fields = ["last_login", "date_joined", "erased_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "erased_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [ClusterOrganiserInline]
    actions = ["erase_personal_data"]

    @admin.action(description="Erase personal data (keeps anonymous counts)")
    def erase_personal_data(self, request, queryset):
        for user in queryset:
            services.account_erase(user=user)
        self.message_user(request, f"Erased {queryset.count()} account(s).", messages.SUCCESS)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "organisation", "country", "mentoring_stance", "visibility"]
    list_filter = ["visibility", "mentoring_stance", "organisation__kind"]
    search_fields = ["display_name", "user__email", "organisation__name"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["user", "organisation"]
    filter_horizontal = ["languages", "sectors", "expertise", "interests"]


@admin.register(GenderIdentity)
class GenderIdentityAdmin(admin.ModelAdmin):
    """Registered so staff can see consent exists; the gender itself is never shown here."""

    list_display = ["__str__", "statistics_consent", "consent_changed_at"]
    fields = ["user", "statistics_consent", "consent_changed_at"]
    readonly_fields = fields
    list_filter = []

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "short_name", "country", "region"]
    search_fields = ["name", "short_name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["sectors"]
    inlines = [ClusterOrganiserInline]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "country", "region"]
    list_filter = ["kind", "clusters"]
    search_fields = ["name", "region"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["sectors", "clusters"]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_by"]


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(ClusterOrganiser)
class ClusterOrganiserAdmin(admin.ModelAdmin):
    list_display = ["user", "cluster", "created_at"]
    list_filter = ["cluster"]
    autocomplete_fields = ["user", "cluster"]


@admin.register(StatisticsAccess)
class StatisticsAccessAdmin(admin.ModelAdmin):
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
