"""Errors of the expression language, each located in the expression text it is about."""

from dataclasses import dataclass

from carnet.core.errors import CarnetError


@dataclass(frozen=True)
class Position:
    """Where something sits in an expression: 0-based offset, 1-based line and column."""

    offset: int
    line: int
    column: int

    @classmethod
    def in_text(cls, text: str, offset: int) -> "Position":
        """Return the position of ``offset`` in ``text``, counting lines and columns from 1."""
        offset = max(0, min(offset, len(text)))
        line = text.count("\n", 0, offset) + 1
        line_start = text.rfind("\n", 0, offset) + 1
        return cls(offset=offset, line=line, column=offset - line_start + 1)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


@dataclass(frozen=True)
class Problem:
    """One located complaint about an expression, in a sentence a study designer can act on."""

    message: str
    position: Position
    end_offset: int

    def __str__(self) -> str:
        return f"{self.position}: {self.message}"


class ExpressionError(CarnetError):
    """Base class of every error the expression language raises."""


class ExpressionSyntaxError(ExpressionError):
    """The text is not an expression (or breaks a size limit); ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem

    @property
    def position(self) -> Position:
        """Return where the text stopped being an expression."""
        return self.problem.position


class ExpressionCheckError(ExpressionError):
    """The expression does not fit the study; ``problems`` lists every error, in text order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = tuple(problems)


class EvaluationError(ExpressionError):
    """A checked expression could not be evaluated on the values given (a caller's mistake)."""


class RedcapTranslationError(ExpressionError):
    """REDCap logic that cannot be translated; ``problems`` locate and explain each refusal."""

    def __init__(self, logic: str, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.logic = logic
        self.problems = tuple(problems)
