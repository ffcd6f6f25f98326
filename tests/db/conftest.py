"""rows_insert is tested on the tables of a real save: the capture tests' world serves here too."""

from tests.capture.conftest import capture

__all__ = ["capture"]
