from django.urls import path

from insights import views

app_name = "insights"

# The figures live beside what they describe: /events/… for events and clusters,
# /mentoring/… for programmes. Included before events, whose `<slug>/` would not match
# these longer paths anyway.
urlpatterns = [
    path("events/<slug:slug>/balance/", views.EventBalanceView.as_view(), name="event"),
    path(
        "events/<slug:slug>/balance/brokerage/",
        views.BrokerageBalanceView.as_view(),
        name="brokerage",
    ),
    path(
        "events/<slug:slug>/balance/report/",
        views.EventBalanceReportView.as_view(),
        name="event_report",
    ),
    path(
        "events/balance/<slug:cluster_slug>/",
        views.ClusterBalanceView.as_view(),
        name="dashboard",
    ),
    path(
        "events/balance/<slug:cluster_slug>/balance.csv",
        views.ClusterBalanceCsvView.as_view(),
        name="csv",
    ),
    path(
        "events/balance/<slug:cluster_slug>/report/<int:year>/",
        views.ClusterYearReportView.as_view(),
        name="year_report",
    ),
    path(
        "mentoring/manage/<slug:slug>/balance/",
        views.ProgrammeBalanceView.as_view(),
        name="programme",
    ),
]
