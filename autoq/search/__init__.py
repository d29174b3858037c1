"""The search: a multi-objective Optuna study (metric up, size and optionally latency
down) over a search space, ending in a Pareto front of recipes.

    from autoq.search import SearchConfig, run_search
    rows = run_search(SearchConfig(task="minilm-mrpc", space="search_spaces/minilm-mrpc.yaml",
                                   study="night1", n_trials=100))
"""
from .config import SearchConfig, make_sampler, parse_duration
from .run import loop, run_search
from .searcher import Searcher

__all__ = ["SearchConfig", "Searcher", "loop", "make_sampler", "parse_duration", "run_search"]
