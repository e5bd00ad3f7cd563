"""The wheel carries the migrations and the shipped GraphQL operations inside the package
(`service/bundled/`): an installed service migrates and serves from any directory. The project
itself is described in pyproject.toml; this file only adds those folders to the build."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {"migrations": ROOT / "migrations", "operations": ROOT / "graphql" / "operations"}


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        for name, source in BUNDLED.items():
            target = Path(self.build_lib) / "service" / "bundled" / name
            shutil.copytree(source, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithShippedFiles})
