from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications.models import OutboxMessage
from notifications.services import outbox_retry_failed


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: rows change only through `notifications.services`."""

    list_display = [
        "recipient",
        "kind",
        "batch",
        "subject",
        "status",
        "attempts",
        "queued_at",
        "sent_at",
    ]
    list_filter = ["status", "kind", "batch"]
    search_fields = ["recipient", "subject", "idempotency_key", "message_id", "batch"]
    date_hierarchy = "created_at"
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_outboxmessage")

    @admin.action(description=_("Retry the selected failed messages"), permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_retry_failed(ids=list(queryset.values_list("pk", flat=True)))
        message = ngettext(
            "%(count)d failed message(s) queued again.",
            "%(count)d failed message(s) queued again.",
            count,
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)
