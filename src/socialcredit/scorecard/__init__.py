"""The commercial credit score: an opt-in, explainable scorecard on the 350–950 scale.

A second scoring path beside the rulebook, statistical rather than rule-based, read from
the same records through the same batch plan:

- `features`: what a subject's file says on a day (arrears, judgements, tenure, ...);
- `model`: monotonic binning + logistic regression (optbinning), scaled to 350–950;
- `train`: a development sample with a derived outcome, split, fit;
- `card`: the model card (data, bins, AUC/KS/Gini, calibration, PSI, fairness);
- `reasons`: the factors that lowered a score, in plain words (the adverse-action notice);
- `apply`: scores for everyone with scoring consent, or for one file;
- `store`: model versions kept as JSON in the store.
"""
