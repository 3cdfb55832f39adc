from django.urls import path

from members import api

app_name = "members_api"

urlpatterns = [
    path("members/", api.MemberListAPI.as_view(), name="member_list"),
    path("members/<int:pk>/", api.MemberDetailAPI.as_view(), name="member_detail"),
    path("me/", api.MeAPI.as_view(), name="me"),
    path("organisations/", api.OrganisationListAPI.as_view(), name="organisation_list"),
    path("clusters/", api.ClusterListAPI.as_view(), name="cluster_list"),
    path("topics/", api.TopicListAPI.as_view(), name="topic_list"),
]
