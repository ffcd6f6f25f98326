"""Write docs/openapi.json, the API's OpenAPI description, from the running code.

.venv/bin/python scripts/openapi_reference.py           # rewrite docs/openapi.json
.venv/bin/python scripts/openapi_reference.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "openapi.json"


def render() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.test")
    import django

    django.setup()
    from carnet.config.api import api

    schema = api.get_openapi_schema(path_prefix="/api")
    return json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    options = parser.parse_args()
    text = render()
    if options.check:
        if not REFERENCE.exists() or REFERENCE.read_text(encoding="utf-8") != text:
            print(f"{REFERENCE.relative_to(ROOT)} is out of date: run scripts/openapi_reference.py")
            return 1
        return 0
    REFERENCE.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
