"""Where a form may send the user back to: a path of this site only, never another host."""
from urllib.parse import urlsplit


def same_site_path(target: str | None) -> str | None:
    """The target when it is a path here ("/history?q=x"); None for anything a browser could read as
    another host ("//evil.example", "/\\evil.example", "https://…") or that holds control characters."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
