"""Users: the administrator, accounts and passwords."""
import secrets
from dataclasses import dataclass, field
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..models import Installation, User, password_hash_method
from ..reasons import N_, Reason, shown
from . import sign_ins

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256  # scrypt hashes any length, but a request should not buy seconds of work
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0 to 4: 3 is "safely unguessable" (about 10^8 guesses or more)
# zxcvbn's time grows quickly with length (README, Performance): a password whose first 72
# characters are hard to guess is hard to guess
PASSWORD_CHARACTERS_WEIGHED = 72


# zxcvbn's feedback, in its words, for the catalog: password_problems gives them as reasons, shown translated
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


class AccountError(ValueError):
    """A change refused, and why: str() says it in the reader's language."""

    def __init__(self, *reasons):
        super().__init__(*reasons)
        self.reasons = reasons

    def __str__(self) -> str:
        return " ".join(shown(reason) for reason in self.reasons)


class NoSuchUser(AccountError):
    """Deleted meanwhile, by another administrator."""


class LastAdministrator(AccountError):
    """The change would leave no active administrator."""


@dataclass
class Weakness:
    """Why zxcvbn finds a password easy to guess, in its own (English) words."""
    warning: str
    suggestions: list[str] = field(default_factory=list)


def password_weakness(password: str, known_words=()) -> Weakness | None:
    """None when the password is hard enough to guess; `known_words` (the e-mail) make it easier."""
    # imported when first needed: its word lists weigh about 20 MB, in every web process that never sets
    # a password otherwise (the export's memory figure, README Performance)
    from zxcvbn import zxcvbn
    result = zxcvbn(password[:PASSWORD_CHARACTERS_WEIGHED], user_inputs=[word for word in known_words if word])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    return Weakness(result["feedback"]["warning"], result["feedback"]["suggestions"])


def password_problems(password: str, email: str) -> list[Reason]:
    """Why a password will not do, sentence by sentence (zxcvbn's advice among them); none when it will."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [Reason("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [Reason("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH)]
    weakness = password_weakness(password, words_about_the_account(email))
    if weakness is None:
        return []
    advice = [Reason(text) for text in (weakness.warning, *weakness.suggestions) if text]
    return [Reason("This password is too easy to guess."), *advice]


def words_about_the_account(email: str | None) -> list[str]:
    """The account's e-mail and its parts: a password made of them is easy to guess for whoever knows them."""
    email = (email or "").lower()
    return [email, *email.replace(".", "@").split("@")]


def has_been_set_up() -> bool:
    """Whether a user ever existed: /setup opens only before, even if every user was deleted since."""
    return db.session.get(Installation, 1) is not None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, is_admin: bool = False) -> User:
    email = email.strip().lower()
    if find_user_by_email(email):
        raise AccountError(Reason("A user with the e-mail %(email)s already exists.", email=email))
    problems = password_problems(password, email)
    if problems:
        raise AccountError(*problems)
    user = User(email=email, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    if not has_been_set_up():
        db.session.add(Installation(id=1))
    try:
        db.session.commit()
    except IntegrityError:  # the same e-mail, or another first user, was committed meanwhile
        db.session.rollback()
        raise AccountError(Reason("%(email)s could not be created: another user was created meanwhile.",
                                  email=email)) from None
    return user


def create_first_administrator(email: str, password: str) -> User:
    """The administrator /setup creates; refused once any user has existed. Two setups at once
    both write the installation row, whose key lets only one commit."""
    if has_been_set_up():
        raise AccountError(Reason("SMS Desk is already set up."))
    return create_user(email, password, is_admin=True)


@cache
def _unknown_account_hash(method: str) -> str:
    return generate_password_hash("no account has this password", method=method)


def authenticate(email: str, password: str) -> User | None:
    """The user, if the password is theirs and they may sign in. Unknown and disabled accounts
    cost the same scrypt as a wrong password, so the answer's delay tells no account apart."""
    user = find_user_by_email(email)
    if user is None or user.disabled:
        User(password_hash=_unknown_account_hash(password_hash_method())).check_password(password)
        return None
    return user if user.check_password(password) else None


def change_password(user: User, password: str, keep_token: str) -> None:
    """The user's own change: every other browser of theirs is signed out."""
    set_new_password(user, password)
    sign_ins.end_all(user, keep_token=keep_token)


def set_new_password(user: User, password: str) -> None:
    """In the caller's transaction; a pending reset link, and a forced change, are over."""
    user.set_password(password)
    user.must_change_password = False
    user.password_reset_hash = user.password_reset_expires_at = None


def reset_password(user_id: int, password: str) -> User:
    """The administrator's change: every browser of the user is signed out."""
    user = _existing_user(user_id)
    set_new_password(user, password)
    sign_ins.end_all(user)
    return user


def reset_to_temporary_password(user_id: int) -> str:
    """The administrator's reset: a random password, to be shown once and changed at the next
    sign-in; every browser of the user is signed out. Only its hash is kept."""
    user = _existing_user(user_id)
    password = new_temporary_password()
    set_new_password(user, password)
    user.must_change_password = True
    sign_ins.end_all(user)
    return password


# no 0/O, 1/l/i: read aloud or copied by hand
TEMPORARY_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_temporary_password() -> str:
    """Four groups of four characters: about 79 bits, easy to type."""
    characters = "".join(secrets.choice(TEMPORARY_PASSWORD_ALPHABET) for _ in range(16))
    return "-".join(characters[start:start + 4] for start in range(0, 16, 4))


def _existing_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NoSuchUser(Reason("No user has the id %(id)d.", id=user_id))
    return user


def set_disabled(user_id: int, disabled: bool) -> User:
    user = _locked_user(user_id)
    if disabled:
        _refuse_last_administrator(user)
        sign_ins.revoke_all(user.id)
    user.disabled = disabled
    db.session.commit()
    return user


def delete_user(user_id: int) -> User:
    """Deletes the user with their phones, messages and sign-ins (the foreign keys cascade)."""
    user = _locked_user(user_id)
    _refuse_last_administrator(user)
    db.session.delete(user)
    db.session.commit()
    return user


def _locked_user(user_id: int) -> User:
    """Makes changes to users wait for each other until committed, so that each sees the one
    before it: PostgreSQL locks the administrators' rows; on SQLite a first write takes the
    database's write lock (reads before any write would see the database as it was)."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(update(Installation).values(id=Installation.id))
    else:
        db.session.execute(select(User.id).where(User.is_admin, User.disabled.is_(False)).with_for_update())
    user = db.session.get(User, user_id, populate_existing=True)  # as the lock holder left it
    if user is None:
        db.session.rollback()
        raise NoSuchUser(Reason("No user has the id %(id)d.", id=user_id))
    return user


def _refuse_last_administrator(user: User) -> None:
    if not user.is_admin or user.disabled:
        return
    others = db.session.scalar(select(func.count(User.id)).where(
        User.is_admin, User.disabled.is_(False), User.id != user.id))
    if others == 0:
        db.session.rollback()
        raise LastAdministrator(Reason("The last active administrator cannot be deleted or disabled."))
