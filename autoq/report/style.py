"""Colours and legend labels shared by the HTML chart and the PNG."""

COLOR = {"searched": "#4C72B0", "infeasible": "#7F7F7F", "pruned": "#A0A0A0",
         "front": "#D62728", "fp32": "#111111", "seed": "#FF7F0E", "pick": "#2CA02C"}
LABEL = {"searched": "searched trial", "infeasible": "searched, breaks a constraint",
         "pruned": "stopped early (partial metric)", "front": "Pareto front",
         "fp32": "FP32", "seed": "seed recipe", "faster": "on the front by latency",
         "fidelity": "on the fidelity front, scored by the metric",
         "near": "within the front margin"}
