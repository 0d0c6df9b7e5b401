"""Builds the two compiled modules — the liquidation model's kernel (src/levradar/analytics/_kernel.pyx) and the
signal engine's loops (_loops.pyx); everything else is declared in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension("levradar.analytics._kernel", ["src/levradar/analytics/_kernel.pyx"]),
            Extension("levradar.analytics._loops", ["src/levradar/analytics/_loops.pyx"]),
        ],
        compiler_directives={"language_level": 3},
    )
)
