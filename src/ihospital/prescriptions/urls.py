from django.urls import path

from . import views, views_doctor, views_refills, views_review, views_slip

app_name = "prescriptions"
urlpatterns = [
    # Patients and their relatives (views.py): my medicines, asking for a refill; one prescription for everyone.
    path("", views.home, name="home"),
    path("<int:rx_id>/", views.detail, name="detail"),
    path("<int:rx_id>/refill/", views.refill, name="refill"),
    path("refill-requests/<int:refill_id>/cancel/", views.cancel_refill, name="cancel_refill"),
    # Doctors (views_doctor.py): prescribing in a visit, the editor of a draft, cancel and revise, my prescriptions.
    path("doctor/", views_doctor.doctor_list, name="doctor"),
    path("visit/<int:visit_id>/", views_doctor.visit_panel, name="visit_panel"),
    path("visit/<int:visit_id>/start/", views_doctor.start, name="start"),
    path("drugs/", views_doctor.drug_search, name="drug_search"),
    path("<int:rx_id>/edit/", views_doctor.edit, name="edit"),
    path("<int:rx_id>/edit/item-form/", views_doctor.item_form, name="item_form"),
    path("<int:rx_id>/items/", views_doctor.add_item, name="add_item"),
    path("<int:rx_id>/items/<int:item_id>/remove/", views_doctor.remove_item, name="remove_item"),
    path("<int:rx_id>/details/", views_doctor.update_details, name="update_details"),
    path("<int:rx_id>/sign/", views_doctor.sign, name="sign"),
    path("<int:rx_id>/cancel/", views_doctor.cancel, name="cancel"),
    path("<int:rx_id>/revise/", views_doctor.revise, name="revise"),
    # The refill worklist (views_refills.py).
    path("refills/", views_refills.worklist, name="refills"),
    path("refills/<int:refill_id>/", views_refills.detail, name="refill_detail"),
    path("refills/<int:refill_id>/approve/", views_refills.approve, name="refill_approve"),
    path("refills/<int:refill_id>/modify/", views_refills.modify, name="refill_modify"),
    path("refills/<int:refill_id>/ask-visit/", views_refills.ask_visit, name="refill_ask_visit"),
    path("refills/<int:refill_id>/refuse/", views_refills.refuse, name="refill_refuse"),
    # Pharmacists (views_review.py).
    path("review/", views_review.worklist, name="review_worklist"),
    path("<int:rx_id>/review/", views_review.review, name="review"),
    path("<int:rx_id>/review/claim/", views_review.claim, name="review_claim"),
    path("<int:rx_id>/review/release/", views_review.release, name="review_release"),
    path("<int:rx_id>/review/decide/", views_review.decide, name="review_decide"),
    # The slip (views_slip.py); its public check is /rx/verify/<number>/ (ihospital/urls.py).
    path("<int:rx_id>/slip/", views_slip.slip, name="slip"),
    path("<int:rx_id>/slip.pdf", views_slip.slip_pdf, name="slip_pdf"),
]
