"""The search: a multi-objective Optuna study (metric up, size and optionally latency
down) over a search space, ending in a Pareto front of recipes.

    from autoq.search import SearchConfig, run_search
    front = run_search(SearchConfig(task="minilm-mrpc", space="search_spaces/minilm-mrpc.yaml",
                                    study="night1", n_trials=100))  # FrontPoints
"""
import importlib

_API = {"SearchConfig": "config", "make_sampler": "samplers", "parse_duration": "config",
        "Searcher": "searcher", "loop": "run", "run_search": "run"}
__all__ = sorted(_API)


def __getattr__(name: str):
    """The API, imported on first use: the command line reads the defaults without
    loading the tasks and the engine."""
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
