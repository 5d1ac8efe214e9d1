"""Evaluation: the ablation runner (``runner``), paper-style tables (``table``) and example figures (``figures``).

``python main.py eval --bundle DIR --cohort DIR`` runs it; ``table.readme_section(results.json)``
generates the README's results section from a run's output.
"""

from ml.eval.runner import (
    Case,
    EvalConfig,
    EvalError,
    cases_from_studies,
    load_cases,
    run_eval,
    write_outputs,
)
from ml.eval.table import readme_section, results_markdown

__all__ = [
    "Case",
    "EvalConfig",
    "EvalError",
    "cases_from_studies",
    "load_cases",
    "readme_section",
    "results_markdown",
    "run_eval",
    "write_outputs",
]
