"""spanheap: shared memory from spanheapd, as Python buffers.

connect() gives a Client; Client.span() and Client.create()/get() give
Span and Object, which export the buffer protocol (memoryview,
numpy.frombuffer) over the shared arena with no copy.  See README.
"""
from ._spanheap import Client, Object, Span, connect

__all__ = ["connect", "Client", "Span", "Object"]
__version__ = "0.1.0"
