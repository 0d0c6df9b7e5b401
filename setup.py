"""Builds the one compiled module, the liquidation model's kernel (src/levradar/analytics/_kernel.pyx); everything
else is declared in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("levradar.analytics._kernel", ["src/levradar/analytics/_kernel.pyx"])],
        compiler_directives={"language_level": 3},
    )
)
