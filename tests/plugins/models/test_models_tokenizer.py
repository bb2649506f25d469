"""The BPE tokenizer: trained on the node's own code, exact round trips, safe on hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.models import tokenizer
from colony.plugins.models.features import BOS, EOS, PAD, UNK
from colony.plugins.models.tokenizer import BPE, SPECIALS, VOCAB_SIZE, TokenizerError

SOLUTION = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def bpe() -> BPE:
    """A tokenizer trained on the full default corpus (8 MB of colony and its dependencies)."""
    return tokenizer.train(tokenizer.corpus(8 << 20, [SOLUTION]))


def test_specials_come_first_and_the_vocabulary_fills(bpe: BPE) -> None:
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert [bpe.tokenizer.id_to_token(i) for i in range(4)] == list(SPECIALS)
    assert bpe.vocab_size == VOCAB_SIZE
    code = Path(tokenizer.__file__).read_text()
    assert len(code.encode()) / len(bpe.encode(code)) > 2.5  # merges learned from real code compress it


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_round_trips(bpe: BPE, text: str) -> None:
    ids = bpe.encode(text)
    assert all(4 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SPECIALS), st.text(max_size=20))
def test_text_spelling_a_special_token_is_plain_text(bpe: BPE, special: str, text: str) -> None:
    ids = bpe.encode(text + special + text)
    assert not {PAD, BOS, EOS, UNK} & set(ids)
    assert bpe.decode(ids) == text + special + text


def test_source_files_round_trip(bpe: BPE) -> None:
    files = tokenizer.own_sources()
    assert any(path.name == "kernel.py" for path in files)
    for path in files[:: max(1, len(files) // 40)]:
        code = path.read_text()
        assert bpe.decode(bpe.encode(code)) == code, path


def test_decode_drops_specials_and_refuses_bad_ids(bpe: BPE) -> None:
    ids = bpe.encode(SOLUTION)
    assert bpe.decode([BOS, *ids, EOS, PAD]) == SOLUTION
    for bad in ([-1], [bpe.vocab_size], [True], ["7"]):
        with pytest.raises(TokenizerError, match="token ids must be integers"):
            bpe.decode(bad)  # type: ignore[arg-type]


def test_text_that_is_not_unicode_is_refused(bpe: BPE) -> None:
    with pytest.raises(TokenizerError, match="not valid Unicode"):
        bpe.encode("half a pair \ud800")


def test_saved_json_loads_back_identically(bpe: BPE, tmp_path: Path) -> None:
    path = tmp_path / "models" / "tokenizer.json"
    bpe.save(path)
    again = BPE.load(path)
    assert again.to_json() == bpe.to_json()
    assert again.encode(SOLUTION) == bpe.encode(SOLUTION)


def test_unreadable_or_foreign_tokenizers_are_refused(bpe: BPE, tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="unreadable tokenizer"):
        BPE.from_json("{not json")
    with pytest.raises(TokenizerError, match="cannot read"):
        BPE.load(tmp_path / "missing.json")
    foreign = bpe.to_json().replace('"<pad>"', '"<nothing>"')
    with pytest.raises(TokenizerError, match="not a colony tokenizer"):
        BPE.from_json(foreign)


def test_corpus_respects_its_cap_and_starts_with_solutions() -> None:
    texts = list(tokenizer.corpus(300_000, [SOLUTION, "x" * 400_000]))
    assert texts[0] == SOLUTION
    assert "x" * 400_000 not in texts  # over the cap on its own: skipped
    assert sum(len(t.encode()) for t in texts) <= 300_000
    own = {path.read_text() for path in tokenizer.own_sources()}
    assert any(text in own for text in texts)


def test_dependencies_share_the_budget() -> None:
    groups = tokenizer.dependency_sources()
    assert len(groups) > 5 and all(path.suffix == ".py" for files in groups for path in files)
    texts = list(tokenizer.corpus(8 << 20))
    dependency_files = {path.read_text(encoding="utf-8", errors="replace") for files in groups[:3] for path in files[:50]}
    assert dependency_files & set(texts)
