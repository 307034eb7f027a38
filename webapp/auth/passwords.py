"""Passwords people choose: long enough, not too long, and hard to guess (zxcvbn's estimate)."""
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from ..services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_problems


def new_password_field(label):
    return PasswordField(label, validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD_LENGTH, message=_l("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)),
        Length(max=MAX_PASSWORD_LENGTH, message=_l("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH)),
        hard_to_guess])


def hard_to_guess(form, field):
    password = field.data or ""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return  # the length is said already
    problems = password_problems(password, _account_email(form))
    if problems:
        raise ValidationError(" ".join(str(problem) for problem in problems))


def _account_email(form):
    return form.email.data if "email" in form else getattr(form, "account_email", "")
