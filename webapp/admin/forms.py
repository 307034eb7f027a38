from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SubmitField
from wtforms.validators import DataRequired, Email

from ..auth.passwords import new_password_field


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    password = new_password_field(_l("Password"))
    is_admin = BooleanField(_l("Administrator"))
    submit = SubmitField(_l("Create the user"))


class UserActionForm(FlaskForm):
    """An empty form: its CSRF token guards the enable, disable and delete buttons."""
