"""The trendsplit kit: the watch-accuracy app's model, its input encoding, its Swift bridge tooling,
data, training, baselines, evaluation, fixtures and benchmarks.

It uses the harness as any user would (`harness.api`, `harness.spec`); the harness never imports
it, and finds its models through the `trendsplit_harness.models` entry point (`trendsplit.registry`).
"""
