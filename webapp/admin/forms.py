from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, RadioField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

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


class QuotaForm(FlaskForm):
    kind = RadioField(_l("Quota"), choices=[("none", _l("No quota: sends without limit")),
                                            ("month", _l("SMS segments per month, renewed on the 1st")),
                                            ("credit", _l("A fixed credit of SMS segments, used once"))],
                      default="none")
    segments = IntegerField(_l("SMS segments"), validators=[Optional(), NumberRange(min=0, max=1_000_000_000)],
                            description=_l("A long SMS counts several segments (160 characters each, 70 with emoji "
                                           "or accents outside the GSM alphabet)."))
    count_from_zero = BooleanField(_l("Count from zero again (forget what was used)"))
    submit = SubmitField(_l("Save the quota"))
