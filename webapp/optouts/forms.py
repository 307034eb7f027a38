from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..messages.forms import MAX_TEXT_LENGTH, unix_newlines, without_nul


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: it changes nothing

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)], filters=[without_nul],
                    description=_l("A number, or words of the message that opted out."))


class AddForm(FlaskForm):
    number = StringField(_l("Number"), validators=[DataRequired(), Length(max=32)], filters=[without_nul])
    submit = SubmitField(_l("Add to the list"))


class RemoveForm(FlaskForm):
    """An empty form whose CSRF token guards the remove button."""


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()],
                     description=_l("One number per row in the first column; a date (YYYY-MM-DD) in the second "
                                    "is kept as the date of the opt-out."))
    submit = SubmitField(_l("Import"))


class SettingsForm(FlaskForm):
    stop_keywords = TextAreaField(_l("Keywords that opt out"), validators=[DataRequired(), Length(max=2000)],
                                  description=_l("One per line or separated by commas. An incoming SMS that says "
                                                 "only one of these (case, accents and punctuation aside) "
                                                 "adds its number to the list."))
    start_keywords = TextAreaField(_l("Keywords that opt in again"), validators=[Optional(), Length(max=2000)],
                                   description=_l("An incoming SMS that says one of these takes its number off "
                                                  "the list."))
    confirm = BooleanField(_l("Answer each change with a confirmation SMS"),
                           description=_l("Sent once, through the phone that received the keyword."))
    stop_reply = TextAreaField(_l("Reply to an opt-out"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)],
                               filters=[unix_newlines])
    start_reply = TextAreaField(_l("Reply to an opt-in"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)],
                                filters=[unix_newlines])
    submit = SubmitField(_l("Save"))
