from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, FieldList, Form, FormField, RadioField, SelectField, StringField, SubmitField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..ids import row_id
from ..messages.forms import without_nul
from ..services.contacts import OPERATORS

BLANK_FIELD_ROWS = 3
CONDITION_ROWS = 4


def stripped(text):
    return without_nul(text).strip() if text else text


class ExtraFieldForm(Form):
    """One free field of a contact (no CSRF of its own: it is part of the contact form)."""
    key = StringField(_l("Field"), validators=[Optional(), Length(max=50)], filters=[stripped])
    value = StringField(_l("Value"), validators=[Optional(), Length(max=200)], filters=[stripped])


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[stripped])
    number = StringField(_l("Number"), validators=[DataRequired(), Length(max=32)], filters=[stripped],
                         description=_l("Numbers without a country code are read as %(region)s numbers."))
    extra_fields = FieldList(FormField(ExtraFieldForm), label=_l("Other fields"), min_entries=BLANK_FIELD_ROWS)
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)], filters=[without_nul])
    submit = SubmitField(_l("Save"))

    def validate_extra_fields(self, extra_fields):
        keys = [entry.form.key.data.casefold() for entry in extra_fields if entry.form.key.data]
        if len(keys) != len(set(keys)):
            raise ValidationError(_("Each field name can be used once."))
        if any(entry.form.value.data and not entry.form.key.data for entry in extra_fields):
            raise ValidationError(_("A value needs a field name."))

    def fields_typed(self) -> dict:
        return {entry.form.key.data: entry.form.value.data or "" for entry in self.extra_fields
                if entry.form.key.data}

    def show_fields(self, fields: dict) -> None:
        while len(self.extra_fields):
            self.extra_fields.pop_entry()
        for key, value in fields.items():
            self.extra_fields.append_entry({"key": key, "value": value})
        for _ in range(BLANK_FIELD_ROWS):
            self.extra_fields.append_entry()


class SelectionForm(FlaskForm):
    """The contact list's checkboxes and what to do with them; the ids are read from request.form."""
    action = SelectField(choices=[("add", _l("Add to group")), ("delete", _l("Delete")),
                                  ("remove", _l("Remove from this group"))])
    group_id = SelectField(_l("Group"), coerce=row_id, validators=[Optional()], validate_choice=False)


class ConfirmForm(FlaskForm):
    """An empty form whose CSRF token guards a confirmed deletion."""


class GroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[DataRequired(), Length(max=100)], filters=[stripped])
    submit = SubmitField(_l("Save"))


class ConditionForm(Form):
    field = StringField(_l("Field"), validators=[Optional(), Length(max=50)], filters=[stripped])
    operator = SelectField(_l("Operator"), default="=", choices=[
        (operator, _l("contains") if operator == "contains" else operator) for operator in OPERATORS])
    value = StringField(_l("Value"), validators=[Optional(), Length(max=200)], filters=[stripped])


class SmartGroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[DataRequired(), Length(max=100)], filters=[stripped])
    conditions = FieldList(FormField(ConditionForm), label=_l("Contacts whose"), min_entries=CONDITION_ROWS)
    submit = SubmitField(_l("Save"))

    def validate_conditions(self, conditions):
        if not self.conditions_typed():
            raise ValidationError(_("Give at least one condition, e.g. class = 6B."))
        if any(entry.form.value.data and not entry.form.field.data for entry in conditions):
            raise ValidationError(_("A value needs a field name."))

    def conditions_typed(self) -> list[dict]:
        return [{"field": entry.form.field.data, "operator": entry.form.operator.data,
                 "value": entry.form.value.data or ""} for entry in self.conditions if entry.form.field.data]

    def show_conditions(self, conditions: list[dict]) -> None:
        while len(self.conditions):
            self.conditions.pop_entry()
        for condition in conditions:
            self.conditions.append_entry(condition)
        for _ in range(max(1, CONDITION_ROWS - len(conditions))):
            self.conditions.append_entry()


# ---- import ----

class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose the file to import."))])
    submit = SubmitField(_l("Upload and preview"))


DELIMITER_CHOICES = {"comma": ",", "semicolon": ";", "tab": "\t"}  # a tab in an HTML value would not survive


class ColumnForm(Form):
    """What one column of the file holds (no CSRF of its own: it is part of the mapping form)."""
    use = SelectField(_l("This column holds"), default="ignore", choices=[
        ("number", _l("the number")), ("name", _l("the name")), ("field", _l("an extra field named…")),
        ("notes", _l("notes")), ("ignore", _l("nothing to import"))])
    field = StringField(_l("Field name"), validators=[Optional(), Length(max=50)], filters=[stripped])


class ImportMappingForm(FlaskForm):
    delimiter = SelectField(_l("Columns separated by"), choices=[
        ("comma", _l("commas ( , )")), ("semicolon", _l("semicolons ( ; )")), ("tab", _l("tabs"))])
    has_header = BooleanField(_l("The first row holds the columns' names"))
    columns = FieldList(FormField(ColumnForm))
    on_existing = RadioField(_l("A number already among your contacts"), default="skip", choices=[
        ("skip", _l("Leave that contact as it is")),
        ("update", _l("Update it with the file's values (empty cells keep what the contact has)"))])
    group_id = SelectField(_l("Put the imported contacts in a group"), coerce=row_id, validate_choice=False)
    new_group = StringField(_l("or in a new group named"), validators=[Optional(), Length(max=100)],
                            filters=[stripped])
    read_again = SubmitField(_l("Read the file again"))
    submit = SubmitField(_l("Import the contacts"))

    def show(self, upload) -> None:
        """The reading stored with the upload, on a form not yet sent."""
        self.delimiter.data = next(key for key, value in DELIMITER_CHOICES.items() if value == upload.delimiter)
        self.has_header.data = upload.has_header
        while len(self.columns):
            self.columns.pop_entry()
        for column in upload.mapping or []:
            self.columns.append_entry(column)

    def mapping_typed(self, width: int) -> list[dict]:
        return [{"use": entry.form.use.data, "field": entry.form.field.data or ""}
                for entry in list(self.columns)[:width]]
