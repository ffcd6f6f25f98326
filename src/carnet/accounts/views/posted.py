"""Reading what a page posted."""


def posted_id(value: str | None) -> int:
    """Return a posted row identifier, or -1 (which matches nothing) when it is not a number."""
    return int(value) if value and value.isdigit() else -1
