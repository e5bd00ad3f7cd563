"""Fetches the browser assets the service serves itself (GraphiQL with its explorer plugin, the
graphql-ws client for web pages, and the console's Preact, htm and uPlot) from the npm registry
into service/http/web/static/, at install time: a deployment then needs no CDN, and works
offline or behind a locked-down proxy.

Each package is pinned by version and by the registry's own integrity hash (sha512), checked
before anything is unpacked. The standard library only: the Dockerfile runs this before the
service's dependencies are installed.

    python -m service.dev.web_assets          # fetch what is missing or changed
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "http" / "web" / "static"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str               # as the registry lists it (dist.integrity)
    files: dict[str, str]        # path in the tarball -> file name in service/http/web/static/

    @property
    def tarball(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


# GraphiQL 3 is the last release with browser (UMD) builds; the explorer plugin 1.0.2 is the
# one built for it (strawberry's own GraphiQL page uses the same pair).
PACKAGES = [
    Package("react", "18.2.0",
            "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+"
            "zkxtmq6g09fGQ==",
            {"package/umd/react.production.min.js": "react.production.min.js"}),
    Package("react-dom", "18.2.0",
            "sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+"
            "hxDsw9eA7Xo6g==",
            {"package/umd/react-dom.production.min.js": "react-dom.production.min.js"}),
    Package("graphiql", "3.8.3",
            "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U"
            "49//H0Ugw==",
            {"package/graphiql.min.js": "graphiql.min.js",
             "package/graphiql.min.css": "graphiql.min.css"}),
    Package("@graphiql/plugin-explorer", "1.0.2",
            "sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVebibnZYZM/iMBEF4vaccXJIAm5KaomIPLx0aoNs4"
            "LbODyc3Q==",
            {"package/dist/index.umd.js": "graphiql-plugin-explorer.umd.js",
             "package/dist/style.css": "graphiql-plugin-explorer.css"}),
    Package("graphql-ws", "5.16.2",
            "sha512-E1uccsZxt/96jH/OwmLPuXMACILs76pKF2i3W861LpKBCYtGIyPQGtWLuBLkND4ox1KHns70e83P"
            "S4te50nvPQ==",
            {"package/umd/graphql-ws.min.js": "graphql-ws.min.js"}),
    # The console (service/http/console/): Preact with htm, one ES module of 13 KB (5 KB
    # gzipped), and uPlot for its time series.
    Package("htm", "3.1.1",
            "sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFo"
            "NKcg5DGAvxNQ==",
            {"package/preact/standalone.module.js": "preact-htm.module.js"}),
    Package("uplot", "1.6.31",
            "sha512-sQZqSwVCbJGnFB4IQjQYopzj5CoTZJ4Br1fG/xdONimqgHmsacvCjNesdGDypNKFbrhLGIeshYh"
            "y89FxPF+H+w==",
            {"package/dist/uPlot.iife.min.js": "uplot.min.js",
             "package/dist/uPlot.min.css": "uplot.min.css"}),
    # Not served to the console: the browser tests inject it to check each screen.
    Package("axe-core", "4.10.2",
            "sha512-RE3mdQ7P3FRSe7eqCWoeQ/Z9QXrtniSjp1wUjt5nRC3WIpz5rSCve6o3fsZ2aCpJtrZjSZgjwXA"
            "oTO5k4tEI0w==",
            {"package/axe.min.js": "axe.min.js"}),
]
MANIFEST = "assets.json"


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _installed(folder: Path) -> dict[str, str]:
    try:
        recorded = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def missing(folder: Path = STATIC) -> list[Package]:
    """The packages whose files are not (or not in the pinned version) in `folder`."""
    recorded = _installed(folder)
    return [p for p in PACKAGES if recorded.get(p.name) != p.integrity
            or not all((folder / name).is_file() for name in p.files.values())]


def fetch(folder: Path = STATIC) -> list[Package]:
    """Fetches what is missing; returns what it fetched. Raises OSError or ValueError."""
    folder.mkdir(parents=True, exist_ok=True)
    recorded = _installed(folder)
    fetched = []
    for package in missing(folder):
        with urllib.request.urlopen(package.tarball, timeout=60) as response:
            data = response.read()
        if _integrity(data) != package.integrity:
            raise ValueError(f"{package.tarball} does not match its pinned integrity hash")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for inside, name in package.files.items():
                member = archive.extractfile(inside)
                if member is None:
                    raise ValueError(f"{inside} is not a file in {package.tarball}")
                (folder / name).write_bytes(member.read())
        recorded[package.name] = package.integrity
        (folder / MANIFEST).write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        fetched.append(package)
    return fetched


def main() -> None:
    try:
        fetched = fetch()
    except (OSError, ValueError) as exc:
        # Not fatal: the API works without them; GraphiQL says what is missing.
        print(f"web assets: could not fetch from {REGISTRY} ({exc}); GraphiQL stays "
              "unavailable until `python -m service.dev.web_assets` succeeds", file=sys.stderr)
        return
    for package in fetched:
        print(f"web assets: {package.name}@{package.version}")


if __name__ == "__main__":
    main()
