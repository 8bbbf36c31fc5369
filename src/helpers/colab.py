"""Colab support from one place: the repository URL, the notebooks' setup cell and the badges.

The setup cell has to run before ``helpers`` is importable on Colab, so its text is written into
every notebook; :func:`setup_cell_source` is the single source of that text and a test checks that
each notebook carries it unchanged.
"""

from __future__ import annotations

REPO_URL = "https://github.com/tuning-lab/tuning-lab"
BRANCH = "main"
COLAB_DIR = "/content/tuning-lab"

_SETUP = '''\
# Setup. On Colab: clone the course and install it (Colab's own torch is kept). Elsewhere `make lab`
# or `make run` has installed everything already and this block does nothing.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    if not os.path.isdir("{colab_dir}"):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{repo}",
                        "{colab_dir}"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "{colab_dir}"], check=True)
    sys.path.insert(0, "{colab_dir}/src")
    os.chdir("{colab_dir}/notebooks")
'''


def setup_cell_source() -> str:
    """The block every notebook's first code cell starts with."""
    return _SETUP.format(repo=REPO_URL, branch=BRANCH, colab_dir=COLAB_DIR)


def colab_url(notebook_file: str) -> str:
    """The Colab address of a notebook in the repository."""
    slug = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{notebook_file}"


def colab_badge(notebook_file: str) -> str:
    """Markdown for an "Open in Colab" badge."""
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url(notebook_file)})")
