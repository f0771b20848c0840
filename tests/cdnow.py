"""The CDNOW sample of Fader, Hardie & Lee (2005), fetched for the tests, never stored in the
repository.

The sample is 2,357 customers who first bought at CDNOW in the first quarter of 1997, followed
for 78 weeks; its per-customer summary for the 39-week calibration period (x, t_x and T in
weeks, and the average value of the repeat purchases) is the data of the BG/NBD and
Gamma-Gamma papers. The data's own terms of use are not stated as open, so FieldCRM does not
ship it: the tests take it from the MIT-licensed ``Lifetimes`` package's source distribution
on PyPI (``Lifetimes-0.11.3.tar.gz``, file
``lifetimes/datasets/cdnow_customers_summary_with_transactions.csv``, columns
``ID,x,t_x,T,zbar``), checked against a pinned SHA-256 and kept in ``~/.cache/fieldcrm-tests``
(or ``$XDG_CACHE_HOME/fieldcrm-tests``). The download goes through pip (so pip's own
configuration applies), or straight from the PyPI simple index when pip cannot. When neither
works the test that needs the data fails, saying why; it never skips.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pytest

PACKAGE: Final = "Lifetimes"
VERSION: Final = "0.11.3"
SDIST: Final = f"{PACKAGE}-{VERSION}.tar.gz"
SHA256: Final = "15af22b130ed0cc6148d8ae4eb9b0f9c8c9bc9c952dd4ce68a1da0bc4c80c712"
MEMBER: Final = (
    f"{PACKAGE}-{VERSION}/lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
)
INDEX: Final = "https://pypi.org/simple/lifetimes/"
TIMEOUT: Final = 120


@dataclass(frozen=True)
class Customers:
    """The calibration-period summary, one element per customer (times in weeks)."""

    x: npt.NDArray[np.float64]  # repeat purchases
    t_x: npt.NDArray[np.float64]  # time of the last purchase after the first
    age: npt.NDArray[np.float64]  # T: from the first purchase to the end of week 39
    m_x: npt.NDArray[np.float64]  # average value of the repeat purchases (0 when x = 0), USD


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fieldcrm-tests"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _with_pip(folder: Path) -> Path:
    subprocess.run(  # noqa: S603 - a fixed command line
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{PACKAGE}=={VERSION}",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "-d",
            str(folder),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT * 2,
    )
    return folder / SDIST


def _from_index(folder: Path) -> Path:
    request = urllib.request.Request(
        INDEX, headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
        files = json.load(answer)["files"]
    url = next(f["url"] for f in files if f["filename"] == SDIST)
    if not url.startswith("https://"):
        raise OSError(f"PyPI gave a non-https address for {SDIST}: {url}")
    target = folder / SDIST
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # noqa: S310
        target.write_bytes(answer.read())
    return target


def sdist() -> Path:
    """The checked source distribution, fetched once into the cache."""
    cached = cache_dir() / SDIST
    if cached.is_file() and _sha256(cached) == SHA256:
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for fetch in (_with_pip, _from_index):
        with tempfile.TemporaryDirectory(dir=cached.parent) as folder:
            try:
                got = fetch(Path(folder))
            except (OSError, subprocess.SubprocessError, StopIteration, KeyError) as exc:
                detail = getattr(exc, "stderr", b"") or b""
                tail = detail.decode(errors="replace").strip().splitlines()[-1:] if detail else []
                problems.append(f"{fetch.__name__}: {exc!r} {' '.join(tail)}".strip())
                continue
            digest = _sha256(got)
            if digest != SHA256:
                problems.append(f"{fetch.__name__}: SHA-256 {digest}, expected {SHA256}")
                continue
            got.replace(cached)  # atomic: parallel workers never see half a file
            return cached
    pytest.fail(
        f"The CDNOW sample could not be fetched: it comes from {SDIST} on PyPI "
        f"(MIT-licensed Lifetimes), which these tests download into {cache_dir()}. "
        f"Reach PyPI, or put that file there (SHA-256 {SHA256}). Attempts: " + "; ".join(problems),
        pytrace=False,
    )


def customers() -> Customers:
    """The 2,357 customers of the CDNOW sample."""
    with tarfile.open(sdist(), "r:gz") as archive:
        member = archive.extractfile(MEMBER)
        assert member is not None, f"{MEMBER} is missing from {SDIST}"
        rows = list(csv.DictReader(io.TextIOWrapper(member, encoding="utf-8")))
    return Customers(
        x=np.array([float(r["x"]) for r in rows]),
        t_x=np.array([float(r["t_x"]) for r in rows]),
        age=np.array([float(r["T"]) for r in rows]),
        m_x=np.array([float(r["zbar"]) for r in rows]),
    )
