"""Malicious pickles and tars against the format layer: each one a clear error, none does harm.

The items live in ``benchmarks/reliability/corpora.py``; they run in a child process (see
``filecorpus``) so a crash, a hang or a memory blow-up is pinned on its item instead of taking
the test session down.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reliability.corpora import pickle_corpus, tar_corpus
from benchmarks.reliability.filecorpus import run_file_corpus, summarize

BOMB_MEMBERS = 1_000_000  # a 512 MB tar of empty members, written streaming


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("corpus")
    results = run_file_corpus(work, bomb_members=BOMB_MEMBERS, item_timeout=60)
    return {"results": results, "summary": summarize(results), "work": work}


def test_every_item_ran(corpus_results: dict[str, object]) -> None:
    results = corpus_results["results"]
    assert isinstance(results, list)
    names = {(r.corpus, r.name) for r in results}
    want = {("pickle", i.name) for i in pickle_corpus("/nonexistent")}
    want |= {("tar", i.name) for i in tar_corpus()}
    assert want <= names, f"items that never reported: {sorted(want - names)}"
    assert any(r.corpus == "tar_bomb" for r in results)


def test_no_item_does_harm(corpus_results: dict[str, object]) -> None:
    summary = corpus_results["summary"]
    assert isinstance(summary, dict)
    harm = summary["harm"]
    lines = [f"{h['corpus']}/{h['name']} [{h['outcome']}]: {h['detail']}" for h in harm]
    assert not harm, "items handled unsafely:\n" + "\n".join(lines)


def test_controls_are_accepted_and_malicious_items_refused(
    corpus_results: dict[str, object],
) -> None:
    # The harness must be able to tell acceptance from refusal, or "clean" means nothing.
    results = corpus_results["results"]
    assert isinstance(results, list)
    controls = [r for r in results if r.expect == "accept"]
    assert controls and all(r.outcome == "accepted" for r in controls)
    refused = [r for r in results if r.expect == "refuse"]
    assert refused and all(r.outcome == "refused" for r in refused)


def test_no_canary_file_anywhere(corpus_results: dict[str, object]) -> None:
    work = corpus_results["work"]
    assert isinstance(work, Path)
    assert not list(work.rglob("blobflow_canary_*"))
