"""The one error the statistics core raises when its input cannot be analysed."""

from __future__ import annotations

from carnet.core.errors import CarnetError


class AnalysisInputError(CarnetError, ValueError):
    """Input was refused before anything was computed; the message names the subject or parameter.

    Parameters
    ----------
    message
        A complete sentence saying what is wrong and where.
    subject
        The subject whose data is wrong, when the fault lies in one subject's data.
    parameter
        The parameter or column at fault, when the fault lies in an argument.

    Examples
    --------
    >>> error = AnalysisInputError("p1 must exceed p0", parameter="p1")
    >>> error.parameter, str(error)
    ('p1', 'p1 must exceed p0')
    """

    def __init__(
        self, message: str, *, subject: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.subject = subject
        self.parameter = parameter
