"""The organisers' mentoring pages (placeholder; being written)."""

urlpatterns: list = []
