"""Thin HTTP and WebSocket handlers, one module per noun.

Rule: a handler parses the request, authorises the caller (``deps.py``), calls
one service and shapes the answer with a ``schemas`` model. Handlers never
touch the database themselves.
"""

from __future__ import annotations
