"""Training: the SageMaker pipeline (preprocess, train or tune, evaluate, gate, register), its
definition builder, the evaluation-gate construct and the code asset.
Runtime: training_scripts/ (the jobs) and lambda/evaluation_gate/ (the gate)."""
