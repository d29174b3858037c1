"""The sensitivity ladder on a hand-made table."""
from autoq.search import sensitivity
from autoq.search.space import SearchSpace

UNITS = ("a", "b", "c")
# Unit a barely changes answers but costs the metric: walking by disagreement takes it early.
TABLE = sensitivity.MetricTable(
    fp32_metric=0.9, fraction=0.5,
    drops={"a": {4: 0.01, 2: 0.20}, "b": {4: 0.02, 2: 0.04}, "c": {4: 0.03, 2: 0.06}},
    disagree={"a": {4: 0.001, 2: 0.05}, "b": {4: 0.02, 2: 0.04}, "c": {4: 0.03, 2: 0.06}},
    saved_bytes={u: {4: 100, 2: 150} for u in UNITS})


def space():
    return SearchSpace.from_dict({
        "defaults": {"bits_weights": 8, "bits_activations": 8, "mode": "ASYMMETRIC_SIGNED"},
        "groups": [{"name": "layers", "modules": "a|b|c", "per_layer": True,
                    "bits_weights": [8, 4, 2]}]}).bind(list(UNITS))


def predicted(choices, cost):
    return sum(TABLE.by(cost)[k.split(":")[0]][b] for k, b in choices.items() if b < 8)


def test_the_ladder_by_disagreement_stays_within_the_drop_it_is_given():
    s, max_drop = space(), 0.1
    for top in (0.2, 0.06):  # the whole path within the disagreement allowed, and part of it
        alone = sensitivity.ladder(s, TABLE, 5, top, cost="disagree")
        seeds = sensitivity.ladder(s, TABLE, 5, top, cost="disagree", within={"drops": max_drop})
        assert all(predicted(c, "disagree") <= top for _, c in alone + seeds)
        assert all(predicted(c, "drops") <= max_drop for _, c in seeds)
        assert [c for _, c in seeds] == [c for _, c in alone
                                         if predicted(c, "drops") <= max_drop]  # only cut
    loose = sensitivity.ladder(s, TABLE, 5, 0.2, cost="disagree")
    assert predicted(loose[-1][1], "drops") > max_drop  # the defect: past --max-drop
    cut = sensitivity.ladder(s, TABLE, 5, 0.2, cost="disagree", within={"drops": max_drop})
    assert cut[-1][1] == {"a:bits_weights": 4, "b:bits_weights": 2, "c:bits_weights": 4}  # 0.08
    assert sensitivity.ladder(s, TABLE, 5, 0.2, cost="disagree", within={"drops": 0.0}) == [
        ("sensitivity-1", {f"{u}:bits_weights": 8 for u in UNITS})]
    assert sensitivity.ladder(s, TABLE, 5, 0.2, cost="disagree", within={}) == loose
