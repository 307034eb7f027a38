from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..messages.forms import without_nul
from ..models import WebhookEndpoint
from ..services.webhooks import EVENT_LABELS, EVENT_TYPES

KIND_LABELS = {WebhookEndpoint.HTTP: _l("A URL of yours (signed HTTPS POST)"),
               WebhookEndpoint.EMAIL: _l("Forward incoming SMS by e-mail"),
               WebhookEndpoint.SMS: _l("Forward incoming SMS to another number by SMS")}


class Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def event_choices():
    return [(event, _("%(event)s: %(what)s", event=event, what=_(EVENT_LABELS[event]))) for event in EVENT_TYPES]


class EndpointForm(FlaskForm):
    kind = RadioField(_l("Kind"), default=WebhookEndpoint.HTTP)
    url = StringField(_l("URL"), validators=[Optional(), Length(max=2000)], filters=[without_nul],
                      description=_l("SMS Desk posts each event to it, signed; it does not follow redirects and "
                                     "will not post to a local or private address."))
    events = Checkboxes(_l("Events"), validate_choice=False)
    email = StringField(_l("E-mail address"), validators=[Optional(), Length(max=254)], filters=[without_nul])
    forward_number = StringField(_l("Forward to the number"), validators=[Optional(), Length(max=32)],
                                 filters=[without_nul])
    phone_id = SelectField(_l("Through the phone"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Add the endpoint"))


class EventsForm(FlaskForm):
    events = Checkboxes(_l("Events"), validate_choice=False)
    submit = SubmitField(_l("Save the events"))


class ActionForm(FlaskForm):
    """An empty form whose CSRF token guards a button."""
