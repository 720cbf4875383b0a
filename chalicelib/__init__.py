"""The logic of the Compiler Explorer stats and alerts service; `app.py` only routes to it."""
