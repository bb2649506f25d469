"""Byte-level BPE for the codegen model, trained with `tokenizers` on the node's own code."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from colony.core.paths import write_private

from .features import SPECIAL_TOKENS as SPECIALS

VOCAB_SIZE = 8192
# The node's own source: these packages of the colony distribution, in this order.
OWN_PACKAGES = ("colony.core", "colony.plugins", "colony.tui", "colony.cartridges")
SOURCE_SUFFIXES = (".py", ".c", ".h", ".zig", ".wat")
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class TokenizerError(ValueError):
    """Text cannot be encoded, ids cannot be decoded, or a saved tokenizer is unreadable."""


class BPE:
    """A trained byte-level BPE: ids 0-3 are PAD, BOS, EOS and UNK; the 256 bytes follow; merges fill the rest."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        for token_id, token in enumerate(SPECIALS):
            if tokenizer.token_to_id(token) != token_id:
                raise TokenizerError(f"not a colony tokenizer: {token} is not id {token_id}")
        # Text that spells a special token ("<eos>") is ordinary text, never the control id.
        tokenizer.encode_special_tokens = True

    @property
    def vocab_size(self) -> int:
        """How many ids the tokenizer uses (at most `VOCAB_SIZE`; fewer when the corpus was small)."""
        return int(self.tokenizer.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        """The ids of `text`, without BOS or EOS."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TokenizerError(f"text is not valid Unicode: {exc.reason} at {exc.start}") from None
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; special ids are dropped, and bytes that do not form UTF-8 become U+FFFD."""
        ids = list(ids)
        if any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.vocab_size for i in ids):
            raise TokenizerError(f"token ids must be integers in 0..{self.vocab_size - 1}")
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def to_json(self) -> str:
        """The whole tokenizer as self-contained JSON."""
        return str(self.tokenizer.to_str())

    @classmethod
    def from_json(cls, text: str) -> BPE:
        """A tokenizer from `to_json` output."""
        try:
            return cls(Tokenizer.from_str(text))
        except Exception as exc:  # tokenizers raises plain Exception on malformed JSON
            raise TokenizerError(f"unreadable tokenizer: {exc}") from None

    def save(self, path: Path) -> None:
        """Write the JSON to `path` atomically."""
        write_private(path, self.to_json().encode())

    @classmethod
    def load(cls, path: Path) -> BPE:
        """Read a tokenizer saved with `save`."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenizerError(f"cannot read {path}: {exc}") from None
        return cls.from_json(text)


def train(texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> BPE:
    """Train a byte-level BPE on `texts` (no normalizer, so every text round-trips exactly)."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return BPE(tokenizer)


def own_sources() -> list[Path]:
    """The source files of the installed colony packages."""
    files: list[Path] = []
    for package in OWN_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except ModuleNotFoundError:
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            files += sorted(p for p in Path(folder).rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file())
    return files


def dependency_sources() -> list[list[Path]]:
    """The Python files of each installed runtime dependency of colony, one list per distribution."""
    try:
        requires = distribution("colony").requires or []
    except PackageNotFoundError:
        return []
    found: list[list[Path]] = []
    for requirement in requires:
        match = REQUIREMENT_NAME.match(requirement)
        if "extra ==" in requirement or match is None:
            continue
        try:
            dist = distribution(match.group(0))
        except PackageNotFoundError:
            continue
        files = sorted(str(f) for f in dist.files or [] if f.suffix == ".py")
        found.append([Path(dist.locate_file(f)) for f in files])
    return found


def corpus(limit: int, solutions: Iterable[str] = ()) -> Iterator[str]:
    """Texts to train on, at most `limit` bytes: verified solutions, colony's source, then its dependencies' (shared fairly)."""
    budget = limit
    for text in (*solutions, *map(_read, own_sources())):
        size = len(text.encode("utf-8", "replace"))
        if text and size <= budget:
            budget -= size
            yield text
    groups = dependency_sources()
    for index, files in enumerate(groups):
        share = budget // (len(groups) - index)  # small packages leave their unused share to the rest
        for text in map(_read, files):
            size = len(text.encode("utf-8"))
            if text and size <= share:
                share -= size
                budget -= size
                yield text


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
