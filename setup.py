"""Compiles perpsim/core/book.py with Cython; everything else is in pyproject.toml.

book.py is Cython "pure Python mode": the same file is the pure-Python module, and book.pxd
beside it adds the C types. When the extension is built, Python imports it in preference to
book.py (extension modules come first in the import system's search order); when it is not
(no Cython, no C compiler: the extension is optional), book.py is imported as it is.
"""
from hashlib import sha256
from pathlib import Path

from setuptools import Extension, setup

BOOK = "perpsim/core/book.py"

try:
    from Cython.Build import cythonize
except ImportError:             # a build without build isolation and without Cython
    ext_modules = []
else:
    # The extension knows which book.py it was built from: if that file changes and the
    # extension is not rebuilt (editable install), importing it runs book.py as plain Python.
    digest = sha256(Path(BOOK).read_bytes()).hexdigest()
    ext_modules = cythonize(
        [Extension("perpsim.core.book", [BOOK],
                   define_macros=[("BOOK_PY_SHA256", f'"{digest}"')])],
        build_dir="build/cython",
        compiler_directives={
            "language_level": 3,
            # annotations stay documentation: `qty: int` must not become a C type or an
            # argument type check (the book's own checks raise VenueError)
            "annotation_typing": False,
        },
    )
    for ext in ext_modules:
        ext.optional = True     # a C compiler error skips it (cythonize drops the argument)

setup(ext_modules=ext_modules)
