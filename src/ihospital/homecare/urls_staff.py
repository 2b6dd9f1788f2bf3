"""The hospital staff's home-nursing pages: assessment (home-care nurses), the day board (dispatchers), the
review queue (supervisor nurses) and blocks (the administration)."""

from django.urls import path, re_path

from . import views_assess, views_blocks, views_dispatch, views_review

urlpatterns = [
    # Home-care nurses: the assessment worklist, claiming, one request's assessment.
    path("assess/", views_assess.worklist, name="assess"),
    path("assess/<int:request_id>/", views_assess.assessment, name="assessment"),
    path("assess/<int:request_id>/claim/", views_assess.claim, name="assess_claim"),
    path("assess/<int:request_id>/decide/", views_assess.decide, name="assess_decide"),
    path("assess/<int:request_id>/release/", views_assess.release, name="assess_release"),
    # Dispatchers: the day board and its acts.
    path("dispatch/", views_dispatch.today, name="dispatch"),
    re_path(r"^dispatch/(?P<day>\d{4}-\d{2}-\d{2})/$", views_dispatch.day_board, name="dispatch_day"),
    re_path(r"^dispatch/(?P<day>\d{4}-\d{2}-\d{2})/shift/$", views_dispatch.set_shift, name="dispatch_shift"),
    re_path(r"^dispatch/(?P<day>\d{4}-\d{2}-\d{2})/propose/$", views_dispatch.propose, name="dispatch_propose"),
    path("dispatch/plans/<int:plan_id>/accept/", views_dispatch.accept_plan, name="dispatch_accept"),
    path("dispatch/requests/<int:request_id>/assign/", views_dispatch.assign, name="dispatch_assign"),
    path("dispatch/requests/<int:request_id>/unassign/", views_dispatch.unassign, name="dispatch_unassign"),
    path("dispatch/requests/<int:request_id>/second-nurse/", views_dispatch.second_nurse,
         name="dispatch_second_nurse"),
    # Supervisor nurses: flagged visits and corrections.
    path("review/", views_review.queue, name="review"),
    path("review/visits/<int:visit_id>/", views_review.review_visit, name="review_visit"),
    path("review/corrections/<int:correction_id>/", views_review.decide_correction, name="review_correction"),
    # The administration: blocks.
    path("blocks/", views_blocks.blocks, name="blocks"),
    path("blocks/<int:patient_id>/lift/", views_blocks.lift, name="blocks_lift"),
]
