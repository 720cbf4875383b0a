"""Discord on loopback: the webhook fake (``fake``), its page showing the channel (``page``, ``static/``),
and the fake in front of a real webhook (``relay``).

The page reads the server it is served from through ``page.Channel`` only, so ``page`` imports
nothing from ``fake``: ``fake`` imports ``page``, ``relay`` imports ``fake``, and nothing goes back.
"""
