"""Deterministic synthetic data with programmatic ground truth.

Every generator takes a seed and returns identical output for identical arguments, so an experiment's
data can be rebuilt anywhere without shipping it. Modules:

- :mod:`helpers.synth.world`: invented people, template biographies and QA pairs (knowledge injection).
- :mod:`helpers.synth.arith`: multi-step integer word problems with ``<<a*b=c>>`` steps and ``#### n``.
- :mod:`helpers.synth.pycode`: small Python function tasks with reference solutions and hidden tests.
- :mod:`helpers.synth.truefalse`: an RTE-like True/False task in one fixed prompt format (ProMoT).
- :mod:`helpers.synth.instructions`: prompts with verifiable constraints and their checker.
- :mod:`helpers.synth.preferences`: chosen/rejected pairs and KTO labels from scored samples.
"""
