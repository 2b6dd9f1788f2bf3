from django.contrib.auth.backends import ModelBackend

from ihospital.core.errors import DomainError

from . import services


class PhoneOrUsernameBackend(ModelBackend):
    """Lets Django's own login forms (the admin) go through the same lockout and throttling as ours."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        try:
            user = services.check_credentials(identifier=username, password=password)
        except DomainError:
            return None
        return user if self.user_can_authenticate(user) else None
