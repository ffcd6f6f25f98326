"""The public surface of carnet.analysis is what its __all__ says, and nothing leaks into it."""

import carnet.analysis


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in carnet.analysis.__all__:
        member = getattr(carnet.analysis, name)
        assert member.__doc__, f"{name} has no docstring"
        first_line = member.__doc__.strip().splitlines()[0]
        assert first_line.endswith("."), f"{name}: {first_line!r}"


def test_private_helpers_are_not_exported() -> None:
    assert not [name for name in carnet.analysis.__all__ if name.startswith("_")]
    assert "require_probability" not in carnet.analysis.__all__
