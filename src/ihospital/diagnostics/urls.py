"""Medical tests' pages under /diagnostics/: the patient's (urls_patient) and the staff's (urls_staff)."""

from django.urls import include, path

app_name = "diagnostics"

urlpatterns = [
    path("", include("ihospital.diagnostics.urls_patient")),
    path("", include("ihospital.diagnostics.urls_staff")),
]
