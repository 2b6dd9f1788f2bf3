from django.urls import path

from . import views, views_room

app_name = "visits"
urlpatterns = [
    # The patient's visits and a new follow-up (views.py).
    path("", views.home, name="home"),
    path("new/", views.new, name="new"),
    path("new/record/", views.upload_basis, name="upload_basis"),
    path("in-person/", views.in_person, name="in_person"),
    path("mine/<int:visit_id>/cancel/", views.cancel, name="cancel"),
    path("<int:visit_id>/reschedule/", views.reschedule, name="reschedule"),
    # Doctors: the day's code, the worklist and the queues (views.py).
    path("doctor/", views.worklist, name="worklist"),
    path("doctor/start-day/", views.start_day, name="start_day"),
    path("doctor/queue/<int:department_id>/take/", views.take_next, name="take_next"),
    # The visit room (views_room.py): chat, call, the doctor's decisions and note, the patient's rating.
    path("<int:visit_id>/", views_room.room, name="room"),
    path("<int:visit_id>/messages/", views_room.post_message, name="room_message"),
    path("<int:visit_id>/files/<int:message_id>/", views_room.attachment, name="room_file"),
    path("<int:visit_id>/basis-document/", views_room.basis_document, name="room_basis_document"),
    path("<int:visit_id>/basis-review/", views_room.review_basis, name="room_basis_review"),
    path("<int:visit_id>/accept/", views_room.accept, name="room_accept"),
    path("<int:visit_id>/start/", views_room.start, name="room_start"),
    path("<int:visit_id>/refuse/", views_room.refuse, name="room_refuse"),
    path("<int:visit_id>/refer/", views_room.refer, name="room_refer"),
    path("<int:visit_id>/note/", views_room.save_note, name="room_note"),
    path("<int:visit_id>/close/", views_room.close, name="room_close"),
    path("<int:visit_id>/cancel/", views_room.cancel, name="room_cancel"),
    path("<int:visit_id>/rating/", views_room.rate, name="room_rate"),
]
