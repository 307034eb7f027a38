from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..messages.forms import without_nul
from ..providers.base import Provider

SETTING_PREFIX = "setting_"


def phone_form_class(provider: type[Provider], editing: bool) -> type[FlaskForm]:
    """The add/edit form, generated from the fields the adapter declares."""

    class PhoneForm(FlaskForm):
        name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)], filters=[without_nul],
                           description=_l("A name for you, e.g. “Front desk”."))
        rate_limit_per_second = DecimalField(
            _l("Maximum SMS per second"), places=None, validators=[Optional(), NumberRange(min=0.01, max=10000)],
            description=_l("Leave blank for no limit. Set it if your provider refuses faster sending."))
        submit = SubmitField(_l("Save"))

    for field in provider.fields:
        validators = []
        keeps_secret = field.secret and editing
        validators.append(DataRequired() if field.required and not keeps_secret else Optional())
        if field.pattern:
            validators.append(Regexp(f"^(?:{field.pattern})$", message=field.pattern_message or None))
        description = field.help
        if keeps_secret:
            description = _l("Leave blank to keep the one saved.")
        if field.secret:
            form_field = PasswordField(field.label, validators=validators, description=description)
        elif field.kind == "choice":
            form_field = SelectField(field.label, choices=list(field.choices), validators=validators,
                                     description=description, default=field.default)
        else:
            form_field = StringField(field.label, validators=validators, description=description,
                                     default=field.default, filters=[without_nul])
        setattr(PhoneForm, SETTING_PREFIX + field.name, form_field)
    return PhoneForm


def setting_values(form) -> dict:
    return {name[len(SETTING_PREFIX):]: field.data for name, field in form._fields.items()
            if name.startswith(SETTING_PREFIX)}


class PhoneActionForm(FlaskForm):
    """An empty form whose CSRF token guards the phone page's buttons."""


class SimulateInboundForm(FlaskForm):
    sender = StringField(_l("From"), validators=[DataRequired(), Length(max=32)], default="+33612345678")
    text = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=1600)],
                         default=_l("Hello! This is a simulated reply."))
    submit = SubmitField(_l("Simulate an incoming SMS"))
