from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from .passwords import new_password_field


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))
    submit = SubmitField(_l("Sign in"))


class CreateAdministratorForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    password = new_password_field(_l("Password"))
    confirm = PasswordField(_l("Password again"),
                            validators=[EqualTo("password", message=_l("The two passwords differ."))])
    submit = SubmitField(_l("Create the administrator"))


class NewPasswordForm(FlaskForm):
    """The administrator's "set a new password". Set `account_email`: a password made of it is refused."""
    password = new_password_field(_l("New password"))
    confirm = PasswordField(_l("New password again"),
                            validators=[EqualTo("password", message=_l("The two passwords differ."))])
    submit = SubmitField(_l("Set the new password"))


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    submit = SubmitField(_l("Change the password"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email()])
    submit = SubmitField(_l("Send me a link"))


class PreferencesForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[("", _l("As my browser")), ("en", "English"), ("fr", "Français")])
    timezone = SelectField(_l("Time zone"))
    submit = SubmitField(_l("Save"))


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       description=_l("What uses it, e.g. “school software”."))
    expires_on = DateField(_l("Expires on"), validators=[Optional()],
                           description=_l("Leave blank for a key that does not expire."))
    submit = SubmitField(_l("Create a key"))
