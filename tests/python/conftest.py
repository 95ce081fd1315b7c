"""pytest setup for the fusedmoe Python tests.

A developer build puts the extension into python/fusedmoe (scripts/test_python.sh builds it);
when it is there for this interpreter, that tree is tested, else an installed fusedmoe
(`pip install .`); FUSEDMOE_TEST_INSTALLED=1 tests the installed one regardless.
Torch tests skip, saying why, where torch or a CUDA device is missing.
"""

import os
import pathlib
import sys
import sysconfig

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_PACKAGE = HERE.parents[1] / "python"
_suffix = sysconfig.get_config_var("EXT_SUFFIX")
if (not os.environ.get("FUSEDMOE_TEST_INSTALLED")
        and (SOURCE_PACKAGE / "fusedmoe" / f"_C{_suffix}").exists()):
    sys.path.insert(0, str(SOURCE_PACKAGE))
sys.path.insert(0, str(HERE))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
