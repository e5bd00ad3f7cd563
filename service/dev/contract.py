"""The breaking-change guard: graphql/schema.graphql against the last released SDL
(graphql/released.graphql), with graphql-core's find_breaking_changes. Every breaking change
must be named, by its schema coordinate in backticks (`Stage.transitionsTo`), in the
"Unreleased" section of CHANGELOG.md. `make lint` runs it:

    python -m service.dev.contract        # exit 1 and a list when one is not named

On a release: rename "Unreleased" to the version, copy schema.graphql to released.graphql and
put the version in its first line; once the release commit exists, put its version and commit
in PREVIOUS_RELEASE of tests/test_upgrades.py (which runs that release against the next one)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from graphql import BreakingChange, build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parents[2]

# graphql-core's descriptions lead with the coordinate, after a word or two of kind.
_COORDINATE = re.compile(
    r"^(?:Field |Enum value |Argument |Standard scalar |A required field |A required argument "
    r"|Directive )?(@?[_A-Za-z][_0-9A-Za-z]*(?:\.[_A-Za-z][_0-9A-Za-z]*)?(?:\([_A-Za-z]\w*:\))?)")


def coordinate(change: BreakingChange) -> str:
    """The schema coordinate a breaking change is about (Type, Type.field, Type.field(arg:))."""
    found = _COORDINATE.match(change.description)
    return found.group(1) if found else change.description


def unreleased(changelog: str) -> str:
    """The text of the changelog's "## [Unreleased]" section."""
    found = re.search(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## \[|\Z)", changelog,
                      re.MULTILINE | re.DOTALL)
    return found.group(1) if found else ""


def unlisted(released_sdl: str, current_sdl: str, changelog: str) -> list[BreakingChange]:
    """The breaking changes since the release that the Unreleased section does not name."""
    section = unreleased(changelog)
    changes = find_breaking_changes(build_schema(released_sdl), build_schema(current_sdl))
    return [c for c in changes if f"`{coordinate(c)}`" not in section]


def main() -> int:
    missing = unlisted((ROOT / "graphql" / "released.graphql").read_text(),
                       (ROOT / "graphql" / "schema.graphql").read_text(),
                       (ROOT / "CHANGELOG.md").read_text())
    for change in missing:
        print(f"breaking, not in CHANGELOG.md's Unreleased section: `{coordinate(change)}`: "
              f"{change.description}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
