"""Row ids read from URLs and query strings.

An id no row can have answers 404 rather than reaching the database: SQLite refuses integers
past 2**63 - 1 (OverflowError) and PostgreSQL's integer columns past 2**31 - 1 (DataError).
"""
from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**31 - 1  # the largest value of an integer column on PostgreSQL


def row_id(text: str) -> int:
    """For request.args.get(..., type=row_id): raises ValueError for what no row's id can be."""
    value = int(text)
    if not 0 <= value <= MAX_ROW_ID:
        raise ValueError(f"{text!r} is not a row id")
    return value


def row_ids(text: str) -> list[int]:
    """Comma-separated ids; the parts that cannot be ids are left out."""
    ids = []
    for part in text.split(","):
        try:
            ids.append(row_id(part))
        except ValueError:
            continue
    return ids


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every route: an id past what a column holds matches no route (404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)
