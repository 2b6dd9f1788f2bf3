from django.urls import path

from . import views

app_name = "records"
urlpatterns = [
    path("me/", views.me, name="me"),
    path("patients/<int:patient_id>/", views.chart, name="chart"),
    path("patients/<int:patient_id>/documents/", views.upload_document, name="upload_document"),
    path("patients/<int:patient_id>/allergies/", views.add_allergy, name="add_allergy"),
    path("patients/<int:patient_id>/medications/", views.add_medication, name="add_medication"),
    path("patients/<int:patient_id>/conditions/", views.add_condition, name="add_condition"),
    path("documents/<int:document_id>/", views.download_document, name="download_document"),
    path("icd10/", views.icd10_search, name="icd10_search"),
]
