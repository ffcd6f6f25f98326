"""Errors that carry a sentence meant for the person who caused them."""


class CarnetError(Exception):
    """An error whose message is a complete sentence a user can act on."""


class ConfigurationError(CarnetError):
    """The environment Carnet was started in cannot work (data directory, database URL…)."""


class ValidationError(CarnetError):
    """Input was refused; the message names the place (field, row, line)."""
