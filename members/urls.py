from django.urls import path

from members import contact_views, import_views, membership_views, views

app_name = "members"

urlpatterns = [
    path("members/", views.DirectoryView.as_view(), name="directory"),
    path("members/<int:pk>/", views.ProfileDetailView.as_view(), name="profile_detail"),
    path("members/<int:pk>/photo/", views.ProfilePhotoView.as_view(), name="profile_photo"),
    path(
        "members/<int:pk>/contact/",
        contact_views.ContactSendView.as_view(),
        name="contact_send",
    ),
    path(
        "contact/report/<str:token>/",
        contact_views.ContactReportView.as_view(),
        name="contact_report",
    ),
    path(
        "clusters/<slug:slug>/manage/contact-reports/",
        contact_views.ContactReportsView.as_view(),
        name="contact_reports",
    ),
    path("me/", views.MyProfileView.as_view(), name="me"),
    path("me/edit/", views.ProfileEditView.as_view(), name="profile_edit"),
    path("me/gender/", views.GenderEditView.as_view(), name="gender_edit"),
    path("me/data.json", views.DataExportView.as_view(), name="data_export"),
    path("me/delete/", views.AccountDeleteView.as_view(), name="account_delete"),
    path("me/api-token/", views.ApiTokenView.as_view(), name="api_token"),
    path("me/messages/", views.MessagePreferencesView.as_view(), name="message_preferences"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
    path("organisations/", views.OrganisationListView.as_view(), name="organisation_list"),
    path(
        "organisations/<slug:slug>/",
        views.OrganisationDetailView.as_view(),
        name="organisation_detail",
    ),
    path("clusters/", views.ClusterListView.as_view(), name="cluster_list"),
    path("clusters/<slug:slug>/", views.ClusterDetailView.as_view(), name="cluster_detail"),
    path("clusters/<slug:slug>/manage/", views.ClusterManageView.as_view(), name="cluster_manage"),
    path(
        "clusters/<slug:slug>/manage/memberships/",
        membership_views.ClusterMembershipsView.as_view(),
        name="cluster_memberships",
    ),
    path(
        "clusters/<slug:slug>/manage/import/",
        import_views.ClusterImportView.as_view(),
        name="cluster_import",
    ),
    path(
        "clusters/<slug:slug>/manage/import/<int:job_id>/",
        import_views.ClusterImportJobView.as_view(),
        name="cluster_import_job",
    ),
    path(
        "me/organisation/",
        membership_views.MyOrganisationView.as_view(),
        name="my_organisation",
    ),
    path(
        "memberships/requests/",
        membership_views.MembershipRequestsView.as_view(),
        name="membership_requests",
    ),
    path(
        "organisations/<slug:slug>/people/",
        membership_views.OrganisationPeopleView.as_view(),
        name="organisation_people",
    ),
]
