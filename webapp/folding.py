"""Text as searches compare it: without accents and case, so that "ASSEMBLEE" finds "assemblée"."""
import unicodedata


def folded(text: str) -> str:
    """Lower case (casefold: "ß" is "ss") with the accents taken off ("É" is "e", "ç" is "c")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))
