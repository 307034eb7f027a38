"""Passwords people choose: long enough, not too long, and hard to guess (zxcvbn's estimate)."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from ..reasons import N_
from ..services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, password_weakness

# zxcvbn's feedback, in its words, for the catalog: the form shows them translated
ZXCVBN_FEEDBACK = (
    N_('A word by itself is easy to guess.'),
    N_('Add another word or two. Uncommon words are better.'),
    N_('All-uppercase is almost as easy to guess as all-lowercase.'),
    N_('Avoid dates and years that are associated with you.'),
    N_('Avoid recent years.'),
    N_('Avoid repeated words and characters.'),
    N_('Avoid sequences.'),
    N_('Avoid years that are associated with you.'),
    N_("Capitalization doesn't help very much."),
    N_('Common names and surnames are easy to guess.'),
    N_('Dates are often easy to guess.'),
    N_('Names and surnames by themselves are easy to guess.'),
    N_('No need for symbols, digits, or uppercase letters.'),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
    N_('Recent years are easy to guess.'),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Reversed words aren't much harder to guess."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_('Short keyboard patterns are easy to guess.'),
    N_('Straight rows of keys are easy to guess.'),
    N_('This is a top-10 common password.'),
    N_('This is a top-100 common password.'),
    N_('This is a very common password.'),
    N_('This is similar to a commonly used password.'),
    N_('Use a few words, avoid common phrases.'),
    N_('Use a longer keyboard pattern with more turns.'),
)


def new_password_field(label):
    return PasswordField(label, validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD_LENGTH, message=_l("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)),
        Length(max=MAX_PASSWORD_LENGTH, message=_l("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH)),
        hard_to_guess])


def hard_to_guess(form, field):
    password = field.data or ""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return  # the length is said already
    weakness = password_weakness(password, _words_about_the_account(form))
    if weakness:
        advice = [_(text) for text in (weakness.warning, *weakness.suggestions) if text]
        raise ValidationError(" ".join([_("This password is too easy to guess."), *advice]))


def _words_about_the_account(form):
    """The account's e-mail: a password made of it is easy to guess for whoever knows it."""
    email = form.email.data if "email" in form else getattr(form, "account_email", "")
    email = (email or "").lower()
    return [email, *email.replace(".", "@").split("@")]
