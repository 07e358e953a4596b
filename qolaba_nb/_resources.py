"""Where the tutorial notebooks, the prompt sets and the lab settings are, and copying them.

There is one copy of each in the repository (``notebooks/``, ``data/prompts/``,
``labconfig/``). The wheel carries them as package data under ``qolaba_nb/_data/`` (hatch's
``force-include``, pyproject.toml), so an installed package finds them without a checkout.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: The folder ``qolaba-nb lab`` copies the tutorials into, inside the directory it opens.
TUTORIALS_DIR = "qolaba-tutorials"


@dataclass(frozen=True, slots=True)
class Resources:
    """The notebooks, data and lab settings of this installation."""

    root: Path  #: the checkout, or ``qolaba_nb/_data`` in an installed package
    checkout: bool  #: True when running from the repository (``make run``, an editable install)

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def prompts(self) -> Path:
        return self.root / "data" / "prompts"

    @property
    def labconfig(self) -> Path:
        """A Jupyter config directory: ``labconfig/page_config.json`` under it."""
        return self.root

    def tutorials(self) -> list[Path]:
        """The tutorial notebooks, in order."""
        return sorted(self.notebooks.glob("*.ipynb"))


def resources() -> Resources:
    """The checkout's files when the package runs from one, else the bundled copy."""
    repo = PACKAGE.parent
    if (repo / "pyproject.toml").is_file() and (repo / "notebooks").is_dir():
        return Resources(repo, checkout=True)
    return Resources(PACKAGE / "_data", checkout=False)


def copy_tutorials(dest: Path, res: Resources | None = None) -> list[Path]:
    """Copy the tutorials and their prompt sets into ``dest``; never overwrite a file there.

    The notebooks go to ``dest/`` and the prompt sets to ``dest/data/prompts/``, where the
    notebooks look for them. A file that already exists is left as it is (it may be the user's
    edited copy). Returns the files written.
    """
    res = res or resources()
    sources = [(nb, dest / nb.name) for nb in res.tutorials()]
    if res.prompts.is_dir():
        sources += [(p, dest / "data" / "prompts" / p.name) for p in sorted(res.prompts.iterdir())]
    if not sources:
        raise FileNotFoundError(f"no tutorial notebooks in {res.notebooks}")
    written = []
    for src, target in sources:
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        written.append(target)
    return written
