"""Does the torch model (g2p_model.G2PNet) predict what g2p-en predicts? g2p-en's own
``G2p.predict`` and the methods it calls are taken from its source text and run on a bare
object (importing g2p_en would download nltk data); both decode every word of the search
and confirm splits, and the share of identical phoneme sequences is written to
results/agreement.json.  Run from this folder: python agreement.py"""
import ast
import json
from pathlib import Path

import numpy as np

from g2p_model import GRAPHEMES, PHONEMES, checkpoint_path, encode_words
from g2p_task import make_task

METHODS = ("sigmoid", "grucell", "gru", "encode", "predict", "load_variables")


def g2p_en_predictor():
    """An object carrying g2p-en's own numpy methods, its vocabularies and its weights."""
    source = (checkpoint_path().parent / "g2p.py").read_text()
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "G2p")
    body = [f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in METHODS]
    module = ast.Module([ast.ClassDef("G2pCore", [], [], body, [])], [])
    namespace = {"np": np, "os": __import__("os"), "dirname": str(checkpoint_path().parent)}
    exec(compile(ast.fix_missing_locations(module), "g2p_en/g2p.py", "exec"), namespace)
    core = namespace["G2pCore"]()
    core.g2idx = {g: i for i, g in enumerate(GRAPHEMES)}
    core.idx2p = dict(enumerate(PHONEMES))
    core.load_variables()
    return core


def main():
    task, core = make_task(), g2p_en_predictor()
    model = task.build_model()
    out = {}
    for split in ("search", "confirm"):
        words = task.words[split]
        ours = []
        for i in range(0, len(words), task.batch_size):
            ours += model.greedy(*encode_words(words[i:i + task.batch_size]))
        theirs = [core.predict(w) for w in words]
        same = sum(a == b for a, b in zip(ours, theirs))
        out[split] = {"words": len(words), "identical": same,
                      "g2p_en_word_accuracy": float(np.mean([tuple(p) in task.prons[w]
                                                             for w, p in zip(words, theirs)]))}
    Path("results").mkdir(exist_ok=True)
    Path("results/agreement.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
