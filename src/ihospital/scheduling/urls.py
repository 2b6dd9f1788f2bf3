from django.urls import path

from . import views

app_name = "scheduling"
urlpatterns = [
    # A doctor's (or, for an administrator, any online doctor's) weekly availability and closures.
    path("availability/", views.availability, name="availability"),
    path("availability/rules/", views.publish_rule, name="publish_rule"),
    path("availability/rules/<int:rule_id>/retire/", views.retire_rule, name="retire_rule"),
    path("availability/closures/", views.add_closure, name="add_closure"),
]
