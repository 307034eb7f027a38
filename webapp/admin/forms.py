from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional

from ..auth.passwords import new_password_field


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    password = new_password_field(_l("Password"))
    is_admin = BooleanField(_l("Administrator"))
    submit = SubmitField(_l("Create the user"))


class UserActionForm(FlaskForm):
    """An empty form: its CSRF token guards the enable, disable and delete buttons."""


class PublicAddressForm(FlaskForm):
    public_base_url = StringField(
        _l("Public address"), validators=[Optional(), Length(max=500)],
        description=_l("The https:// address providers reach SMS Desk at, e.g. https://sms.example.org. "
                       "Leave it empty for the local default."))
    submit = SubmitField(_l("Save the address"))
