"""The optional C extension of the fast CTF reader; everything else is in pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and the reader runs in
pure Python (slower, same answers)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "w2a_tui.trace.fastctf._cwalk",
            sources=["w2a_tui/trace/fastctf/_cwalk.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
