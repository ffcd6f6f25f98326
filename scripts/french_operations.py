"""French for the installation's commands (serve, demo), merged into scripts/french.py's table."""

from __future__ import annotations

FRENCH: dict[str, str] = {
    "`carnet demo` failed (exit %(code)s): nothing is served.": "`carnet demo` a échoué (code de sortie %(code)s) : rien n'est servi.",
}
