"""The seed's two Lambda functions, re-created from its description to measure against (never shipped).

Written for the benchmark from the seed document's description of ``stats`` and
``cloudwatch_to_discord``; only the strategy is kept: what is imported up front, when clients
are made, and which AWS requests each event costs.
"""
