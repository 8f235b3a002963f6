"""Evaluation: the per-subject evaluator, the batch plan and the engines that run it."""
