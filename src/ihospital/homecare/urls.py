"""Home nursing's pages under /homecare/: the patient's (urls_patient), the staff's (assessment, dispatch,
review, blocks: urls_staff) and the nurse's phone and the security console (urls_nurse)."""

from django.urls import include, path

app_name = "homecare"

urlpatterns = [
    path("", include("ihospital.homecare.urls_patient")),
    path("", include("ihospital.homecare.urls_staff")),
    path("", include("ihospital.homecare.urls_nurse")),
]
