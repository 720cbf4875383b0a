"""Development support shared by the tests, the benchmarks, the reliability suite and the local stack.

One place for each thing: the moto launcher (``moto``), the Discord fake with its page and relay (``discord``), the
archive reader (``archive``), queue helpers (``sqs``), waiting and ports (``net``), child processes
(``process``), Lambda events and contexts (``lambda_events``), the fault-injecting proxy in front of moto
(``faultproxy``), and the resource names and fake credentials (``names``). Never shipped: Chalice
packages only ``app.py`` and ``chalicelib/``.
"""
