"""Users: the administrator, accounts and passwords."""
from sqlalchemy import func, select

from ..extensions import db
from ..models import User

MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    pass


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, is_admin: bool = False) -> User:
    email = email.strip().lower()
    if find_user_by_email(email):
        raise AccountError(f"a user with the e-mail {email} already exists")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = User(email=email, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = find_user_by_email(email)
    if user is None or user.disabled or not user.check_password(password):
        return None
    return user
