"""A user's own test files for the built-in tasks: read, checked, scored and signed by file."""
import gzip
import os
import shutil
from pathlib import Path

import pytest
import torch

from autoq.errors import AutoqError
from autoq.fidelity import text_digest
from autoq.tasks.data import data_file
from autoq.tasks.gnmt.beam import length_batches
from autoq.tasks.gnmt.checkpoint import ASSET_DIR, WEIGHTS
from autoq.tasks.gnmt.corpus import read_lines
from autoq.tasks.gnmt.task import GNMTMulti30k
from autoq.tasks.minilm import data
from autoq.tasks.minilm.model import pretrained_dir
from autoq.tasks.minilm.task import MiniLMMRPC
from autoq.tasks.paired import paired_difference

needs_data = pytest.mark.skipif(not (Path(os.environ["AUTOQ_DATA"]) / "multi30k").is_dir(),
                                reason="Multi30k and MRPC not under $AUTOQ_DATA")
needs_gnmt = pytest.mark.skipif(not (ASSET_DIR / WEIGHTS).is_file(), reason="no GNMT checkpoint")
pytestmark = needs_data
TEST = "test_2016_flickr"


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write(path: Path, lines: list[str], bom: str = "", end: str = "\n") -> Path:
    """``lines`` as a UTF-8 file, gzipped when the name ends in .gz."""
    payload = (bom + "".join(line + end for line in lines)).encode()
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def mrpc_rows(pairs) -> list[str]:
    return [f"{p.label}\t1\t2\t{p.a}\t{p.b}" for p in pairs]


@needs_gnmt
def test_a_user_pair_of_files_scores_as_the_same_lines_of_the_builtin_split(tmp_path, monkeypatch):
    """The 16 test sentences a fraction of the built-in split scores, given as a user's files
    (relative paths, a BOM and CRLF, one side gzipped): the same BLEU sentence for sentence,
    a signature naming the files, and no pairing with the built-in score."""
    builtin = GNMTMulti30k(batch_size=16)
    model = builtin.build_model()
    whole = builtin.evaluate(model, "confirm", fraction=0.01)
    src, _ = builtin._split("confirm")
    picked = sorted(length_batches(src, 16)[31])  # the batch that fraction scores
    en, de = read_lines("test", "en"), read_lines("test", "de")
    write(tmp_path / "my.en", [en[i] for i in picked], bom="\ufeff", end="\r\n")
    write(tmp_path / "my.de.gz", [de[i] for i in picked])
    monkeypatch.chdir(tmp_path)
    mine = GNMTMulti30k(batch_size=16, confirm="my.en, my.de.gz")
    score = mine.evaluate(model, "confirm")
    assert score.n == 16 and score.metric == whole.metric and (score.examples == whole.examples).all()
    label = f"split=file:my.en,my.de.gz@sha256:{text_digest([en[i] for i in picked] + [de[i] for i in picked])}"
    assert mine.split_label("confirm") == label
    assert score.signature == whole.signature.replace(f"split={TEST}", label).replace("|batches=31/63", "")
    with pytest.raises(AutoqError, match="cannot be paired"):
        paired_difference(mine, score, whole)


def test_builtin_signatures_stay_and_a_swapped_file_is_named(tmp_path):
    assert [GNMTMulti30k().split_label(s) for s in ("search", "confirm")] == ["split=val", f"split={TEST}"]
    for name in ("en", "de"):  # copies of the built-in files under their own names: the same data
        shutil.copy(data_file("multi30k", f"{TEST}.{name}.gz"), tmp_path / f"{TEST}.{name}.gz")
        shutil.copy(data_file("multi30k", f"{TEST}.{name}.gz"), tmp_path / f"my.{name}.gz")
    same = GNMTMulti30k(confirm=(tmp_path / f"{TEST}.en.gz", tmp_path / f"{TEST}.de.gz"))
    assert same.split_label("confirm") == f"split={TEST}"
    renamed = GNMTMulti30k(confirm=f"{tmp_path}/my.en.gz,{tmp_path}/my.de.gz")
    assert renamed.split_label("confirm") == "split=file:my.en.gz,my.de.gz@sha256:9cecab8772c4"
    write(tmp_path / f"{TEST}.en.gz", read_lines("test", "en")[:100])
    write(tmp_path / f"{TEST}.de.gz", read_lines("test", "de")[:100])

    class Swapped(GNMTMulti30k):  # the built-in file names, other lines
        def split_files(self, split):
            return (tmp_path / f"{TEST}.en.gz", tmp_path / f"{TEST}.de.gz") if split == "confirm" \
                else super().split_files(split)

    label = Swapped().split_label("confirm")
    assert label.startswith(f"split=file:{TEST}.en.gz,{TEST}.de.gz@sha256:") and "9cecab8772c4" not in label


@pytest.mark.parametrize("en, de, spec, message", [
    (["A dog."], ["Ein Hund."], "my.en", "name two files"),
    (["A dog."], ["Ein Hund."], "my.en,nothere.de", "no file .*nothere.de"),
    (["A dog.", "A cat."], ["Ein Hund."], "my.en,my.de", "my.en has 2 lines and .*my.de 1"),
    ([], ["Ein Hund."], "my.en,my.de", "my.en: empty"),
    (["A dog.", " ", "A cat."], ["Ein Hund.", "x", "Eine Katze."], "my.en,my.de", "my.en, line 2: empty"),
    (b"A \xe9t\xe9.\n", ["Ein Sommer."], "my.en,my.de", "my.en: not UTF-8 text \\(line 1"),
    (["A dog."], ["Ein Hund."], "my.en,my.en.gz", "my.en.gz: cannot read it"),
])
def test_a_bad_gnmt_file_is_one_clear_message(tmp_path, monkeypatch, en, de, spec, message):
    monkeypatch.chdir(tmp_path)
    if isinstance(en, bytes):
        (tmp_path / "my.en").write_bytes(en)
    else:
        write(tmp_path / "my.en", en)
    write(tmp_path / "my.de", de)
    (tmp_path / "my.en.gz").write_text("not gzip")
    with pytest.raises(AutoqError, match=message):
        GNMTMulti30k(confirm=spec)


def test_builtin_readers_refuse_an_unknown_file_by_name():
    with pytest.raises(AutoqError, match="mrpc/test.tsv is not a built-in data file"):
        data_file("mrpc", "test.tsv")
    with pytest.raises(AutoqError, match="no split 'dev'"):
        read_lines("dev", "en")


def test_mrpc_files_with_or_without_header_bom_or_crlf_read_alike(tmp_path):
    dev = data.read_tsv("dev.tsv")[:40]
    rows, header = mrpc_rows(dev), "\t".join(data.HEADER)
    files = {"header.tsv": ([header] + rows, "", "\n"), "bare.tsv": (rows, "", "\n"),
             "bom.tsv": ([header] + rows, "\ufeff", "\n"), "crlf.tsv": (rows, "\ufeff", "\r\n")}
    for name, (lines, bom, end) in files.items():
        path = write(tmp_path / name, lines, bom, end)
        assert data.read_pairs(path, "file") == dev, name
    labels = [MiniLMMRPC(confirm=tmp_path / name).split_label("confirm") for name in files]
    assert labels == [f"split=file:{name}@sha256:{labels[0][-12:]}" for name in files]  # one content


@pytest.mark.parametrize("lines, message", [
    (["1\t1\t2\tA dog.\tA hound.", "0\t1\t2\tA cat."], "line 2: 4 tab-separated field"),
    (["\t".join(data.HEADER), "1\t1\t2\tA dog.\tA hound.", "2\t1\t2\tA cat.\tA lion."], "line 3: label '2'"),
    (["\t".join(data.HEADER)], "no sentence pairs"),
    ([], "no sentence pairs"),
    (["1\t1\t2\tA dog.\t "], "line 1: an empty sentence"),
])
def test_a_bad_mrpc_file_is_one_clear_message(tmp_path, lines, message):
    write(tmp_path / "my.tsv", lines)
    with pytest.raises(AutoqError, match=message):
        MiniLMMRPC(confirm=tmp_path / "my.tsv")


def test_a_missing_or_binary_mrpc_file_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AutoqError, match="minilm-mrpc search: no file .*my.tsv"):
        MiniLMMRPC(search="my.tsv")
    (tmp_path / "my.tsv").write_bytes(b"1\t1\t2\t\xff\tb\n")
    with pytest.raises(AutoqError, match="my.tsv: not UTF-8 text \\(line 1, byte 6\\)"):
        MiniLMMRPC(search="my.tsv")


def test_mrpc_scores_of_a_user_file_are_the_builtins_signed_by_file(tmp_path):
    dev = data.read_tsv("dev.tsv")
    write(tmp_path / "dev.tsv", mrpc_rows(dev))  # the same pairs and name, no header: as built in
    write(tmp_path / "my.tsv", mrpc_rows(dev))
    builtin = MiniLMMRPC(model_dir=pretrained_dir(), batch_size=16)
    same = MiniLMMRPC(model_dir=pretrained_dir(), batch_size=16, confirm=tmp_path / "dev.tsv")
    mine = MiniLMMRPC(model_dir=pretrained_dir(), batch_size=16, confirm=tmp_path / "my.tsv")
    model = builtin.build_model()
    ref = builtin.evaluate(model, "confirm", fraction=0.1)
    assert same.evaluate(model, "confirm", fraction=0.1) == ref and ref.signature.startswith("f1|mrpc-dev|")
    score = mine.evaluate(model, "confirm", fraction=0.1)
    assert score.metric == ref.metric and (score.examples == ref.examples).all()
    assert score.signature == ref.signature.replace("mrpc-dev", "split=file:my.tsv@sha256:32fa15ae60b2")
    assert builtin.chance("search").signature.startswith("f1|mrpc-search|n=408|")


def test_scores_of_two_different_user_files_are_never_paired(tmp_path):
    dev = data.read_tsv("dev.tsv")
    write(tmp_path / "a.tsv", mrpc_rows(dev[:48]))
    write(tmp_path / "b.tsv", mrpc_rows(dev[48:96]))
    a, b, again = (MiniLMMRPC(model_dir=pretrained_dir(), confirm=tmp_path / n).chance()
                   for n in ("a.tsv", "b.tsv", "a.tsv"))
    assert a.n == b.n == 48 and a.signature != b.signature
    with pytest.raises(AutoqError, match="different splits cannot be paired"):
        paired_difference(MiniLMMRPC(), a, b)
    assert paired_difference(MiniLMMRPC(), a, again).value == 0.0  # the same file pairs


def test_user_files_leave_the_fine_tune_alone_and_are_kept_out_of_pools(tmp_path):
    sp = data.splits()
    write(tmp_path / "search.tsv", mrpc_rows(sp["finetune"][:40]))  # pairs the default pool may hold
    write(tmp_path / "confirm.tsv", mrpc_rows(sp["confirm"][:40]))
    task = MiniLMMRPC(model_dir=pretrained_dir(), search=tmp_path / "search.tsv",
                      confirm=tmp_path / "confirm.tsv")
    default = MiniLMMRPC(model_dir=pretrained_dir())
    assert task._splits_now()["finetune"] == sp["finetune"] and task._splits_now()["search"] == sp["finetune"][:40]
    for x, y in zip(task.calibration_batches(), default.calibration_batches()):
        assert all(torch.equal(x[k], y[k]) for k in x)
    task.pool_batches(), default.pool_batches()
    taken = {(p.a, p.b) for p in sp["finetune"][:40]}
    assert not taken & {(p.a, p.b) for p in task._pool} and taken & {(p.a, p.b) for p in default._pool}
    assert task.pool_name.startswith(default.pool_name + "|without=40@sha256:")
    pool = write(tmp_path / "pool.tsv", [f"{p.a}\t{p.b}" for p in sp["confirm"][20:80]])
    with pytest.raises(AutoqError, match="20 sentence pair.*judged"):  # dev 20..39 is confirm.tsv's
        task.pool_from_file(pool)
    write(pool, [f"{p.a}\t{p.b}" for p in sp["confirm"][40:100]])
    task.pool_from_file(pool)  # dev pairs the user's files replaced are no longer judged
    assert task.pool_name.startswith("file:pool.tsv|n=60|")


@needs_gnmt
def test_a_gnmt_pool_file_overlapping_a_users_file_is_refused(tmp_path):
    train = read_lines("train", "en")
    write(tmp_path / "my.en", train[:40])
    write(tmp_path / "my.de", read_lines("train", "de")[:40])
    task = GNMTMulti30k(confirm=f"{tmp_path}/my.en,{tmp_path}/my.de")
    with pytest.raises(AutoqError, match="3 sentence.*judged"):
        task.pool_from_file(write(tmp_path / "pool.txt", train[37:100]))
    task.pool_from_file(write(tmp_path / "pool.txt", train[40:80] + read_lines("test", "en")[:10]))
    assert task.pool_name.startswith("file:pool.txt|n=50|")
