"""Build the spanheap extension against libspanclient.

SPANHEAP_INCLUDE_DIR: where spanheap.h is (default ../libclient).
SPANHEAP_LIBRARY_DIR: where libspanclient.so is (default ../build).
Links -lspanclient dynamically, with no rpath; nothing is downloaded.
"""
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
INC = os.environ.get("SPANHEAP_INCLUDE_DIR",
                     os.path.join(HERE, "..", "libclient"))
LIB = os.environ.get("SPANHEAP_LIBRARY_DIR", os.path.join(HERE, "..", "build"))

setup(
    name="spanheap",
    version="0.1.0",
    description="Python binding of libspanclient (spanheapd shared memory)",
    packages=["spanheap"],
    package_data={"spanheap": ["py.typed", "__init__.pyi"]},
    ext_modules=[
        Extension(
            "spanheap._spanheap",
            sources=["spanheap/_spanheap.c"],
            include_dirs=[INC],
            library_dirs=[LIB],
            libraries=["spanclient"],
        )
    ],
    zip_safe=False,
)
