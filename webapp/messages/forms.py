import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (BooleanField, DateField, DateTimeLocalField, HiddenField, SelectField, SelectMultipleField,
                     StringField, SubmitField, TextAreaField, widgets)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import statuses

MAX_TEXT_LENGTH = 1600
# What a compose or reply form takes at most: longer than any provider accepts, so that the text a
# phone's provider refuses is refused by compose, which names that provider's limit
LONGEST_TEXT_POSTED = 10_000


def without_nul(text):
    """NUL characters go: no phone shows them, and PostgreSQL can neither store nor search them."""
    return text.replace("\x00", "") if text else text


def unix_newlines(text):
    """Browsers post newlines as CR LF; the counter, like a phone, counts one character."""
    return without_nul(text.replace("\r\n", "\n")) if text else text


class ListFilter(SelectField):
    """A filter's list: a value that is not on it (typed in the URL) says so in the user's words,
    instead of WTForms' "Invalid Choice: could not coerce." """

    def __init__(self, *args, not_listed, **kwargs):
        super().__init__(*args, **kwargs)
        self.not_listed = not_listed

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError(str(self.not_listed)) from None

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(str(self.not_listed)) from None


class DateFilter(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(_l("This is not a date: choose one in the calendar, or write it as 2026-01-31."))) \
                from None


def new_submission_token() -> str:
    return secrets.token_urlsafe(18)


class ComposeForm(FlaskForm):
    # one per rendered form: posted twice (a double click, a resubmitted page), it sends once
    submission_token = HiddenField(default=new_submission_token)
    phone_id = SelectField(_l("Send from"), coerce=int, validators=[DataRequired()])
    # shown when the user has pools: one of them sends instead of the phone above
    pool_id = SelectField(_l("Or from a pool"), coerce=lambda value: int(value) if value else None,
                          validators=[Optional()],
                          description=_l("The pool chooses the phone when the SMS is sent, and another of its "
                                         "phones takes it if its provider cannot send it."))
    numbers = TextAreaField(_l("To"), validators=[Optional()],
                            description=_l("One or several numbers, one per line or separated by commas. "
                                           "Numbers without a country code are read as %(region)s numbers."))
    group_ids = SelectMultipleField(_l("Groups"), coerce=int, validators=[Optional()], validate_choice=False,
                                    option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False))
    contact_ids = HiddenField()  # the contacts ticked in the contact list, separated by commas
    numbers_file = FileField(_l("Numbers from a CSV file"), validators=[Optional(), FileAllowed(
        ["csv", "txt", "tsv"], _l("A CSV file (.csv, .txt or .tsv)."))],
        description=_l("One number per row, comma, semicolon or tab separated, with or without a header."))
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=LONGEST_TEXT_POSTED)],
                         filters=[unix_newlines],
                         description=_l("Placeholders such as {first_name} or {name} are filled from each "
                                        "contact's fields."))
    flash = BooleanField(_l("Flash SMS"), description=_l("Shown at once on the recipient's screen, not stored "
                                                         "in their inbox."))
    send_at = DateTimeLocalField(_l("Send later"), format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                 description=_l("Leave blank to send now. In your time zone."))
    send_to_opted_out = StringField(validators=[Optional(), Length(max=32)])  # the number confirmed, see _macros
    submit = SubmitField(_l("Send"))


class ReplyForm(FlaskForm):
    submission_token = HiddenField(default=new_submission_token)
    phone_id = SelectField(_l("From"), coerce=int, validators=[DataRequired()])
    numbers = HiddenField()  # the conversation's number, set by the view
    body = TextAreaField(_l("Reply"), validators=[DataRequired(), Length(max=LONGEST_TEXT_POSTED)],
                         filters=[unix_newlines])
    send_to_opted_out = StringField(validators=[Optional(), Length(max=32)])
    submit = SubmitField(_l("Send"))


class HistoryFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: it changes nothing

    phone = ListFilter(_l("Phone"), coerce=lambda value: int(value) if value else None, validators=[Optional()],
                       not_listed=_l("This is not one of your phones: choose one in the list."))
    direction = ListFilter(_l("Direction"), choices=[("", _l("Sent and received")), ("outbound", _l("Sent")),
                                                     ("inbound", _l("Received"))], validators=[Optional()],
                           not_listed=_l("Choose a direction in the list."))
    status = ListFilter(_l("Status"), choices=[("", _l("Any status"))] + [
        (status, statuses.LABELS[status]) for status in statuses.OUTBOUND_STATUSES + (statuses.RECEIVED,)],
        validators=[Optional()], not_listed=_l("Choose a status in the list."))
    number = StringField(_l("Number"), validators=[Optional(), Length(max=32)], filters=[without_nul])
    text = StringField(_l("Text contains"), validators=[Optional(), Length(max=200)], filters=[without_nul])
    date_from = DateFilter(_l("From"), validators=[Optional()])
    date_to = DateFilter(_l("To"), validators=[Optional()])


class ConversationSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: it changes nothing

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)], filters=[without_nul],
                    description=_l("A number, or its beginning (06 12…), a contact’s name, or words from the messages"))


class MessageActionForm(FlaskForm):
    """An empty form whose CSRF token guards the cancel button."""


class CampaignReviewForm(FlaskForm):
    """The confirmation of a compose action to several recipients."""
    submission_token = HiddenField(default=new_submission_token)
    send_to_valid = BooleanField(_l("Send to the valid numbers only"))
    missing = SelectField(_l("Recipients without this field"), validators=[Optional()], choices=[
        ("", _l("Choose…")), ("fallback", _l("Put this value instead")), ("leave_out", _l("Leave them out"))])
    update = SubmitField(_l("Update the figures"))
    submit = SubmitField(_l("Send"))


class ResendForm(FlaskForm):
    """"Send again": the unknown ones too (they may have been sent) only when ticked."""
    include_unknown = BooleanField(_l("Also send again those whose fate is unknown (they may have been received: "
                                      "they would get it twice)"))


class EditScheduledForm(FlaskForm):
    """The text and time of an SMS (or a campaign) SMS Desk holds for later."""
    body = TextAreaField(_l("Message"), validators=[Optional(), Length(max=LONGEST_TEXT_POSTED)],
                         filters=[unix_newlines])
    send_at = DateTimeLocalField(_l("Send at"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()],
                                 description=_l("In your time zone."))
    submit = SubmitField(_l("Save"))
