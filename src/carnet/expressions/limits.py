"""Size limits that keep a hostile or careless expression from costing time or memory.

They are checked before the parser runs (length, nesting) and while it builds the tree
(literals, node count, depth), so a refusal costs time proportional to the text at most.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The largest expression the language accepts; the defaults suit every real study rule."""

    # Generous: a long eligibility rule with a dozen criteria is a few hundred characters.
    max_length: int = 10_000
    # Nesting depth of the tree: a sum of 99 questionnaire items is 99 deep. The evaluators
    # recurse about three frames per level, so this also keeps them far from the stack limit.
    max_depth: int = 100
    max_nodes: int = 2_000
    max_string_length: int = 1_000
    # Integers beyond 10**15 are not clinical values, and they stay exact in a 64-bit float.
    max_number: int = 10**15
    max_list_items: int = 500


DEFAULT_LIMITS = Limits()
