"""Where the files the service reads beside its code are: in a checkout, `migrations/` and
`graphql/operations/` at its root (where people edit and read them); in an installed wheel, the
copies its build put inside the package (`service/bundled/`, by setup.py), so that the service
runs from any directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
CHECKOUT = PACKAGE.parent
BUNDLED = PACKAGE / "bundled"


def shipped(*in_checkout: str) -> Path:
    """The folder `in_checkout` (relative to a checkout's root) in a checkout, else its copy
    in the package, under the folder's own name."""
    if (CHECKOUT / "pyproject.toml").is_file():  # site-packages has none
        return CHECKOUT.joinpath(*in_checkout)
    return BUNDLED / in_checkout[-1]
