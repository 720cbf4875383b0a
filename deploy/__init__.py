"""Deployment: the CloudFormation template for a stage (``python -m deploy.template``).

Runs on an operator's machine or in CI, never in Lambda: Chalice packages only app.py and
chalicelib/, so nothing here ships.
"""
