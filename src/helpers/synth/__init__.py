"""Deterministic synthetic data with programmatic ground truth.

Every generator takes a seed and returns identical output for identical arguments, so an experiment's
data can be rebuilt anywhere without shipping it. Modules:

- :mod:`helpers.synth.world`: invented people, template biographies and QA pairs (knowledge injection).
- :mod:`helpers.synth.arith`: multi-step integer word problems with ``<<a*b=c>>`` steps and ``#### n``.
- :mod:`helpers.synth.pycode`: small Python function tasks with reference solutions and tests as data
  (arguments and expected results, compared outside the sandbox).
- :mod:`helpers.synth.truefalse`: an RTE-like True/False task in one fixed prompt format (ProMoT).
- :mod:`helpers.synth.instructions`: prompts with verifiable constraints and their checker.
- :mod:`helpers.synth.preferences`: chosen/rejected pairs and KTO labels from scored samples.
- :mod:`helpers.synth.scenes`: short scenes with background, narration and event parts (custom role tokens).
- :mod:`helpers.synth.likes`: constructed facts about new tokens ("a likes b"), for memorisation probes.
- :mod:`helpers.synth.domain`: an invented technical domain with never-seen terms (continued pretraining).
"""
