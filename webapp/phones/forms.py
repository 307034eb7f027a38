from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DecimalField, HiddenField, IntegerField, PasswordField, RadioField, SelectField, StringField,
                     SubmitField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from ..crypto import open_kept_secrets, seal_kept_secrets
from ..messages.forms import without_nul
from ..providers.base import Provider, SettingField

SETTING_PREFIX = "setting_"
KEPT_SECRET_NOTE = _l("Kept from your last try — leave blank to keep it.")


def phone_form_class(provider: type[Provider], editing: bool) -> type[FlaskForm]:
    """The add/edit form, generated from the fields the adapter declares."""

    class PhoneForm(FlaskForm):
        name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)], filters=[without_nul],
                           description=_l("A name for you, e.g. “Front desk”."))
        rate_limit_per_second = DecimalField(
            _l("Maximum SMS per second"), places=None, validators=[Optional(), NumberRange(min=0.01, max=10000)],
            description=_l("Leave blank for no limit. Set it if your provider refuses faster sending."))
        limit_per_day = IntegerField(_l("Maximum per day"), validators=[Optional(), NumberRange(min=0, max=10**9)],
                                     description=_l("Leave blank for no limit. Operators may cut a SIM or a number "
                                                    "that sends too much: past the limit, its SMS wait for the next "
                                                    "day."))
        limit_per_month = IntegerField(_l("Maximum per month"), validators=[Optional(), NumberRange(min=0, max=10**9)],
                                       description=_l("Leave blank for no limit. Past it, its SMS wait for the 1st."))
        limit_counts = SelectField(_l("Counted in"), choices=LIMIT_UNITS, default="segments")
        kept_secrets = HiddenField()  # the secrets of a try that had an error, sealed (see keep_secrets_typed)
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
        filters = [without_nul, as_stored(field)]
        if field.secret:
            form_field = PasswordField(field.label, validators=validators, description=description, filters=filters)
        elif field.kind == "choice":
            form_field = SelectField(field.label, choices=list(field.choices), validators=validators,
                                     description=description, default=field.default)
        else:
            form_field = StringField(field.label, validators=validators, description=description,
                                     default=field.default, filters=filters)
        setattr(PhoneForm, SETTING_PREFIX + field.name, form_field)
    if provider.can_be_asked():
        PhoneForm.polling_mode = SelectField(
            _l("Asking %(company)s", company=provider.company), choices=POLLING_CHOICES, default="automatic",
            description=_l("A provider on the internet cannot call back a server at a local address (a home "
                           "network, localhost). SMS Desk then asks it for delivery reports and incoming SMS "
                           "instead: “Automatic” does so only at such an address, “Always” at any address."))
    return PhoneForm


LIMIT_UNITS = [
    ("segments", _l("SMS segments (a long SMS counts several)")),
    ("messages", _l("Messages")),
]

POLLING_CHOICES = [
    ("automatic", _l("Automatic: at a local address")),
    ("always", _l("Always")),
    ("never", _l("Never: wait for callbacks")),
]


def as_stored(field: SettingField):
    """A filter giving the value as it is stored (see SettingField.normalized), before it is validated."""
    def normalized(typed):
        return field.normalized(typed, current_app.config["DEFAULT_PHONE_REGION"])
    return normalized


def kept_secrets_owner(user, provider: type[Provider], phone) -> str:
    """Whose kept secrets a form may take: this user's, for this provider and this phone (or a new one)."""
    return f"{user.id}/{provider.key}/{phone.id if phone else 'new'}"


def take_kept_secrets(form, provider: type[Provider], owner: str) -> None:
    """A secret left blank takes the one typed in the last try, when the form carries it."""
    kept = open_kept_secrets(form.kept_secrets.data, owner)
    for field in provider.fields:
        form_field = form[SETTING_PREFIX + field.name]
        if field.secret and field.name in kept and not form_field.data:
            form_field.data = kept[field.name]


def keep_secrets_typed(form, provider: type[Provider], owner: str) -> None:
    """After a try with an error: the secrets typed (or kept) that had no error of their own go,
    sealed, into the form shown again, and their inputs stay empty with a note saying so."""
    kept = {}
    for field in provider.fields:
        form_field = form[SETTING_PREFIX + field.name]
        if field.secret and form_field.data and not form_field.errors:
            kept[field.name] = form_field.data
            form_field.description = KEPT_SECRET_NOTE
            form_field.render_kw = {"placeholder": "••••••••"}  # the input is empty, yet something is there
    form.kept_secrets.data = seal_kept_secrets(kept, owner) if kept else ""


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


class TestSmsForm(FlaskForm):
    number = StringField(_l("Your mobile number"), validators=[DataRequired(), Length(max=32)],
                         render_kw={"autocomplete": "tel", "inputmode": "tel"})
    submit = SubmitField(_l("Send me a test SMS"))


STRATEGY_CHOICES = [
    ("first_available", _l("First available: the first phone sends; when its provider cannot, the next one does")),
    ("spread", _l("Spread: the phones take turns, each by its weight")),
]
ORDER_PREFIX, WEIGHT_PREFIX = "order_", "weight_"


def pool_form_class(phones: list) -> type[FlaskForm]:
    """The pool's form: its name, its strategy, and for each of the user's phones its place in the
    list (blank: not in the pool) and its weight."""

    class PoolForm(FlaskForm):
        name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)], filters=[without_nul],
                           description=_l("A name for you, e.g. “All numbers”."))
        strategy = RadioField(_l("How the pool chooses a phone"), choices=STRATEGY_CHOICES, default="first_available")
        submit = SubmitField(_l("Save"))

        def member_fields(self):
            """(phone, its order field, its weight field), in the order the page lists the phones."""
            return [(phone, self[f"{ORDER_PREFIX}{phone.id}"], self[f"{WEIGHT_PREFIX}{phone.id}"]) for phone in phones]

        def validate(self, extra_validators=None):
            valid = super().validate(extra_validators)
            if not any(order.data for _phone, order, _weight in self.member_fields()):
                self.form_errors.append(_l("Give at least one phone a place in the list."))
                return False
            return valid

    for phone in phones:
        setattr(PoolForm, f"{ORDER_PREFIX}{phone.id}", IntegerField(
            _l("Place"), validators=[Optional(), NumberRange(min=1, max=99)], render_kw={"inputmode": "numeric"}))
        setattr(PoolForm, f"{WEIGHT_PREFIX}{phone.id}", IntegerField(
            _l("Weight"), validators=[Optional(), NumberRange(min=1, max=100)], default=1,
            render_kw={"inputmode": "numeric"}))
    return PoolForm
