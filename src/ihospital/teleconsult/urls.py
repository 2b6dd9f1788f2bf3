"""Remote expert consultation's pages under /teleconsult/ (one address per request, role-aware)."""

from django.urls import path

from . import views_board, views_expert, views_patient, views_referrer, views_session

app_name = "teleconsult"

urlpatterns = [
    path("", views_referrer.home, name="home"),
    # The referring doctor (partner facility).
    path("mine/", views_referrer.mine, name="mine"),
    path("requests/new/", views_referrer.new, name="new"),
    path("requests/<int:request_id>/", views_referrer.request_page, name="request"),
    path("requests/<int:request_id>/edit/", views_referrer.edit, name="edit"),
    path("requests/<int:request_id>/attach/", views_referrer.attach, name="attach"),
    path("requests/<int:request_id>/upload/", views_referrer.upload, name="upload"),
    path("requests/<int:request_id>/attachments/<int:attachment_id>/remove/", views_referrer.remove_attachment,
         name="remove_attachment"),
    path("requests/<int:request_id>/submit/", views_referrer.submit, name="submit"),
    path("requests/<int:request_id>/cancel/", views_referrer.cancel, name="cancel"),
    path("requests/<int:request_id>/acknowledge/", views_referrer.acknowledge, name="acknowledge"),
    path("requests/<int:request_id>/report.pdf", views_referrer.report_pdf_view, name="report_pdf"),
    # The coordinators' board.
    path("board/", views_board.board, name="board"),
    path("requests/<int:request_id>/assign/", views_board.assign, name="assign"),
    path("requests/<int:request_id>/return/", views_board.return_request, name="return"),
    path("requests/<int:request_id>/assignments/<int:assignment_id>/withdraw/", views_board.withdraw,
         name="withdraw"),
    path("requests/<int:request_id>/sessions/new/", views_board.schedule, name="schedule"),
    path("statements/", views_board.statement, name="statement"),
    path("statements.csv", views_board.statement_csv, name="statement_csv"),
    # The experts.
    path("cases/", views_expert.cases, name="cases"),
    path("requests/<int:request_id>/accept/", views_expert.accept, name="accept"),
    path("requests/<int:request_id>/decline/", views_expert.decline, name="decline"),
    path("requests/<int:request_id>/opinion/", views_expert.opinion, name="opinion"),
    path("requests/<int:request_id>/sign/", views_expert.sign, name="sign"),
    path("attachments/<int:attachment_id>/", views_expert.attachment, name="attachment"),
    path("attachments/<int:attachment_id>/images/<int:instance_id>.png", views_expert.attachment_preview,
         name="attachment_preview"),
    # The patient and their family.
    path("my/", views_patient.home, name="patient_home"),
    path("requests/<int:request_id>/consent/", views_patient.consent, name="consent"),
    # The live video session.
    path("sessions/<int:session_id>/", views_session.session, name="session"),
]
