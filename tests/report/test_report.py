"""The study report: report.html (self-contained, escaped) and pareto.png."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from autoq import AutoqError
from autoq.cli import main
from autoq.report import write_report
from autoq.search import SearchConfig, run_search

TESTS = Path(__file__).resolve().parents[1]  # tests/
sys.path.insert(0, str(TESTS))
EVIL = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


def outside_scripts(html: str) -> str:
    return re.sub(r"(?is)(<script\b[^>]*>).*?</script>", r"\1</script>", html)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    cfg = SearchConfig(task="plugin_task:make_task", space=str(TESTS / "spaces" / "tiny.yaml"),
                       study="tiny", results=tmp_path_factory.mktemp("results"), n_trials=16,
                       progress=False, device="cpu", objective="metric")
    run_search(cfg)
    return cfg.out


def test_report_files(study_dir):
    html_path, png_path = write_report(study_dir)
    assert (html_path, png_path) == (study_dir / "report.html", study_dir / "pareto.png")
    html = html_path.read_text()
    page = outside_scripts(html)
    # offline: plotly.js inline, no script, style or link fetched from anywhere
    assert "Plotly.newPlot" in html and "cdn" not in page.lower()
    assert not re.search(r"""(?i)\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert not re.search(r"(?i)<script\b[^>]*\bsrc\s*=", page)
    rows = json.loads((study_dir / "pareto.json").read_text())
    assert rows
    for r in rows:  # each front point in the table, with its recipe link
        assert re.search(rf"<tr><td>{r['trial']}\b", page)
        assert f'href="{r["recipe"]}"' in page
    assert '"name":"FP32"' in html and '"text":["FP32"]' in html  # FP32's own labelled marker
    assert '"name":"seed recipe"' in html and "tiny_seed" in html
    assert "stopped early" in html  # pruned trials drawn at their partial metric
    assert "rnn: W" in html  # per-layer settings in the hover
    image = matplotlib.image.imread(png_path)
    assert image.shape[0] >= 500 and image.shape[1] >= 800 and image.std() > 0.05
    assert not list(study_dir.glob("*.tmp"))


def test_a_task_s_constant_answer_is_drawn_and_its_equals_tagged(tmp_path):
    cfg = SearchConfig(task="plugin_task:perfect_chance_task", space=str(TESTS / "spaces" / "tiny.yaml"),
                       study="tiny", results=tmp_path, n_trials=6, progress=False, device="cpu",
                       objective="metric")
    run_search(cfg)  # its constant answer is the reference itself: no point beats it
    html = write_report(cfg.out)[0].read_text()
    page = outside_scripts(html)
    assert "<dt>constant answer</dt>" in page and '"text":"constant answer"' in html
    rows = json.loads((cfg.out / "pareto.json").read_text())
    assert rows and all(r["beats_chance"] is False for r in rows)
    for r in rows:
        assert re.search(rf"<tr><td>{r['trial']}\b[^<]*(<span class=tag>[^<]*</span> )*<span class=tag>\[chance\]", page)


def test_cli_report(study_dir, capsys):
    assert main(["report", "--study", study_dir.name, "--results", str(study_dir.parent)]) == 0
    assert capsys.readouterr().out.split() == [str(study_dir / "report.html"),
                                                str(study_dir / "pareto.png")]
    assert main(["report", "--study", "nope", "--results", str(study_dir.parent)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_folders(tmp_path):
    with pytest.raises(AutoqError, match="does not exist"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AutoqError, match="no search.json"):
        write_report(tmp_path / "empty")
    (tmp_path / "nodb").mkdir()
    (tmp_path / "nodb" / "search.json").write_text('{"fp32_metric": 1, "fp32_confirm_metric": 1, '
                                                   '"fp32_size_bytes": 1}')
    (tmp_path / "nodb" / "pareto.json").write_text("[]")
    with pytest.raises(AutoqError, match="no study.db"):
        write_report(tmp_path / "nodb")


def evil_study(out: Path, EVIL: str = EVIL, SCRIPT: str = SCRIPT) -> None:
    """A study whose module, seed, task and metric names and fail reasons are markup."""
    out.mkdir()
    study = optuna.create_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}",
                                directions=["maximize", "minimize"])
    study.set_user_attr("fp32_size_bytes", 1000)
    recipe = ("quantizers:\n  q:\n    class: PostTrainLinearQuantizer\n    bits_parameters: 8\n"
              f"    overrides:\n      '{EVIL}': {{bits_weights: 4}}\n")
    param = {f"{EVIL}:bits_weights": 4}
    dist = {f"{EVIL}:bits_weights": CategoricalDistribution([2, 4, 8])}
    ok = {"max_drop": 0.0}
    study.add_trial(create_trial(values=[1.0, 1000], user_attrs={"seed": "fp32", "recipe": recipe},
                                 constraints=ok))
    study.add_trial(create_trial(values=[0.95, 400], user_attrs={"seed": SCRIPT, "recipe": recipe},
                                 constraints=ok))
    study.add_trial(create_trial(values=[0.9, 300], params=param, distributions=dist,
                                 user_attrs={"recipe": recipe}, constraints=ok))
    study.add_trial(create_trial(values=[0.85, 200], params=param, distributions=dist,
                                 user_attrs={"recipe": recipe}, constraints={"max_drop": 0.03}))
    study.add_trial(create_trial(state=TrialState.PRUNED, params=param, distributions=dist,
                                 user_attrs={"recipe": recipe, "partial_metric": 0.5, "size_bytes": 250}))
    study.add_trial(create_trial(state=TrialState.FAIL, params=param, distributions=dist,
                                 user_attrs={"fail_reason": f"ValueError: {EVIL} broke"}))
    meta = {"task": EVIL, "metric_name": SCRIPT, "fp32_metric": 1.0, "fp32_confirm_metric": 1.0,
            "fp32_size_bytes": 1000, "max_drop": 0.12}
    (out / "search.json").write_text(json.dumps(meta))
    (out / "pareto.json").write_text("[]")


def test_markup_in_names_is_escaped(tmp_path):
    evil_study(tmp_path / "evil")
    html_path, png_path = write_report(tmp_path / "evil")
    html = html_path.read_text()
    for raw in ("<img", "<script>alert", "onerror=alert(1)>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in outside_scripts(html)  # task, fail reason
    assert "&lt;script&gt;alert(2)&lt;" in outside_scripts(html)  # seed and metric names
    assert "&lt;img src=x onerror=alert(1)&gt;: W4" in html  # hover, from params and recipe
    assert '"name":"searched, breaks a constraint"' in html and "max drop 0.12" in html
    assert matplotlib.image.imread(png_path).shape[0] > 0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's)")
def test_no_script_runs_in_a_browser(tmp_path):
    """Open the report in headless Chromium: the page renders, and no injected markup runs."""
    evil_study(tmp_path / "evil", EVIL="<img src=x onerror=\"document.title='pwned-img'\">",
               SCRIPT="<script>document.title='pwned-script'</script>")
    html_path, _ = write_report(tmp_path / "evil")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=8000", "--dump-dom",
         html_path.as_uri()], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert "js-plotly-plot" in dom  # the page's own script ran and drew the chart
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is None or "pwned" not in title.group(1)  # no injected handler or script ran
    assert not re.search(r"<img[^>]*onerror", dom) and "<script>document.title" not in dom
    assert "pwned-img" in dom and "pwned-script" in dom  # they show, as text


def test_seed_names_at_one_point_do_not_cover_each_other():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from autoq.report.chart import place_labels

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    points = [(1 + 0.01 * i, 1 + 0.005 * (i % 3)) for i in range(5)] + [(3, 1)]  # a ladder, int8
    ax.scatter(*zip(*points))
    names = [f"sensitivity-{i + 1}" for i in range(5)] + ["int8"]
    labels = [ax.annotate(name, xy, textcoords="offset points", xytext=(0, 9), ha="center")
              for name, xy in zip(names, points)]
    place_labels(labels, fig, ax, points)
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(a, renderer) for a in labels]  # the names, not their lines
    dots = [ax.transData.transform(p) for p in points]
    frame = ax.get_window_extent(renderer)
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i))
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
               for b in boxes)  # none pushed out over the title or the top axis
    assert not any(b.contains(x, y) for b in boxes for x, y in dots)  # nor over a point
    assert labels[-1].xyann == (0, 9)  # a name with room is left where it was


def test_a_folder_with_the_front_but_no_study_is_reported_from_its_files(tmp_path):
    """Committed results keep the front, not the study.db: the report is made from them."""
    src = TESTS.parent / "results" / "minilm-mrpc" / "fidelity-s0"
    folder = tmp_path / "night"
    folder.mkdir()
    for name in ("search.json", "pareto.json"):
        shutil.copy(src / name, folder / name)
    rows = json.loads((folder / "pareto.json").read_text())
    html_path, png_path = write_report(folder)
    html = html_path.read_text()
    assert "read from pareto.json" in html and "<th>fidelity (KL)</th>" in html
    assert html.count("<tr><td>") == len(rows)  # one table row per front row
    for r in rows:
        assert f"{r['fidelity']:.3g}" in html
    assert "[recommended]" in html and matplotlib.image.imread(png_path).shape[0] > 100
