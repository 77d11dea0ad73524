"""Shared test fixtures. Tests that need the real data sets skip with a reason where
``../shared/data`` (beside the repo) is absent, so the suite passes on a fresh clone."""
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Entries whose precision='auto' is mixed precision train in float32 here, so tests that compare
# weights exactly (resume, distribution) keep their bounds; tests/test_precision.py asks for the
# mixed precisions by name.
os.environ.setdefault("PIX2GAN_PRECISION", "float32")

import pytest  # noqa: E402

from pix2gan.errors import Pix2GanError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def shared_path(*parts: str) -> str:
    """Path below ../shared/data, or skip the test (with the reason printed by -ra) if absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not found at {path} (CI has ../shared/data; a fresh clone does not)")
    return path


@pytest.fixture
def shared_data():
    """The ../shared/data folder, or skip."""
    return shared_path()


@pytest.fixture
def facades_dir():
    return shared_path("facades")


@pytest.fixture
def mnist_dir():
    return shared_path("mnist")


def run_python(args, cwd, timeout=600, env=None):
    """Run ``python args...`` in a subprocess and return the CompletedProcess (text output)."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def one_line_error(call, *needles):
    """Call ``call``, expect a one-line :class:`Pix2GanError` holding every needle; return it."""
    with pytest.raises(Pix2GanError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return info.value
