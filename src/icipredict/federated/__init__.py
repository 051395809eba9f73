"""Federated training across centres on Flower: nodes answer with aggregates, never rows.

The math (:mod:`.local` on a node, :mod:`.newton`, :mod:`.statistics`, :mod:`.evaluation` on the
coordinator) is plain numpy and runs in-process; :mod:`.flower_apps` is the only module that
imports ``flwr`` and :mod:`.processes` starts Flower's own SuperLink/SuperNode processes.
"""
