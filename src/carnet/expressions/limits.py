"""Size limits that keep a hostile or careless expression from costing time or memory.

They are checked before the parser runs (length, nesting) and while it builds the tree
(literals, node count, depth), so a refusal costs time proportional to the text at most.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The largest expression the language accepts; the defaults suit every real study rule."""

    # The longest real eligibility rule we have seen is under 2,000 characters.
    max_length: int = 10_000
    # Nesting depth of the tree; evaluators recurse over it, so it also bounds the Python stack.
    max_depth: int = 64
    max_nodes: int = 2_000
    max_string_length: int = 1_000
    # Integers beyond 10**15 are not clinical values, and they stay exact in a 64-bit float.
    max_number: int = 10**15
    max_list_items: int = 500


DEFAULT_LIMITS = Limits()
