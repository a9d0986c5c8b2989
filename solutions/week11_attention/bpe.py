"""A byte-level byte-pair-encoding (BPE) tokenizer, trained on a tiny corpus.

Text is first turned into its UTF-8 bytes, so any string, in any script, is a sequence of the
256 base tokens and nothing is ever "unknown". Training then repeatedly finds the most frequent
pair of adjacent tokens and merges it into a new token, so frequent fragments ("th", "the ")
become single tokens. A token IS its bytes: tokens are `bytes` objects during training and
encoding, and a merge is a pair (left, right) of them whose new token is left + right.

Token ids: 0..255 are the single bytes (id b is bytes([b])); merge number i (0-based, in the
order learned) makes id 256 + i. (Should two merges ever make the same bytes, the token keeps
the id of the first.)

The rules, which the tests hold you to:
  - Training works on the whole corpus as one sequence (no splitting into words first).
  - A pair's count is the number of positions where it occurs, overlapping occurrences
    included: "aaa" holds the pair (a, a) twice.
  - Each step merges the pair with the HIGHEST count; among pairs with the same count, the
    lexicographically SMALLEST pair wins, comparing (left, right) as Python compares tuples of
    bytes (so (b"a", b"b") < (b"a", b"c") < (b"b", b"a")).
  - Training stops early, returning fewer merges, when no pair occurs at least twice.
  - Merging a pair replaces its occurrences scanning left to right, without overlap: merging
    (a, a) in "aaa" gives [aa, a], not [a, aa] and not [aa, aa].
  - Encoding applies the learned merges one after another IN THE ORDER THEY WERE LEARNED, each
    over the whole text (not the most frequent pair of the new text).
"""

from __future__ import annotations

from collections import Counter


def merge_pair(tokens: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    """tokens with every occurrence of `pair` replaced by left + right, left to right, no overlap."""
    # TODO: one scan; after a merge, continue AFTER the two tokens just merged.
    ### BEGIN SOLUTION
    left, right = pair
    merged: list[bytes] = []
    i = 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i] == left and tokens[i + 1] == right:
            merged.append(left + right)
            i += 2
        else:
            merged.append(tokens[i])
            i += 1
    return merged
    ### END SOLUTION


def train_bpe(corpus: str, num_merges: int) -> list[tuple[bytes, bytes]]:
    """Up to num_merges merges learned from corpus, in the order learned (rules: module docstring)."""
    # TODO: start from the corpus's UTF-8 bytes, one token per byte.
    # TODO: each step: count adjacent pairs, pick the winner by the stated rule (count, then
    #       smallest pair), stop if it occurs fewer than 2 times, record it and merge it.
    ### BEGIN SOLUTION
    tokens = [bytes([b]) for b in corpus.encode("utf-8")]
    merges: list[tuple[bytes, bytes]] = []
    for _ in range(num_merges):
        counts = Counter(zip(tokens, tokens[1:], strict=False))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        if counts[best] < 2:
            break
        merges.append(best)
        tokens = merge_pair(tokens, best)
    return merges
    ### END SOLUTION


def vocabulary(merges: list[tuple[bytes, bytes]]) -> dict[int, bytes]:
    """Every token id and its bytes: 0..255, then 256 + i for merge i."""
    # TODO: the 256 single bytes, then one entry per merge.
    ### BEGIN SOLUTION
    vocab = {b: bytes([b]) for b in range(256)}
    for i, (left, right) in enumerate(merges):
        vocab[256 + i] = left + right
    return vocab
    ### END SOLUTION


def encode(text: str, merges: list[tuple[bytes, bytes]]) -> list[int]:
    """The token ids of text: its UTF-8 bytes with the merges applied in learned order."""
    # TODO: bytes -> tokens, every merge in order, then each token's id (first id for its bytes).
    ### BEGIN SOLUTION
    tokens = [bytes([b]) for b in text.encode("utf-8")]
    for pair in merges:
        tokens = merge_pair(tokens, pair)
    ids: dict[bytes, int] = {}
    for token_id, token in vocabulary(merges).items():
        ids.setdefault(token, token_id)
    return [ids[token] for token in tokens]
    ### END SOLUTION


def decode(ids: list[int], merges: list[tuple[bytes, bytes]]) -> str:
    """The text of token ids: their bytes joined and decoded as UTF-8.

    Bytes that are not valid UTF-8 (ids cut in the middle of a character) become U+FFFD, as
    bytes.decode(errors="replace") does. Raises ValueError for an id that is not in the vocabulary.
    """
    # TODO: look every id up in the vocabulary, join, decode.
    ### BEGIN SOLUTION
    vocab = vocabulary(merges)
    unknown = [i for i in ids if i not in vocab]
    if unknown:
        raise ValueError(f"decode: ids {unknown[:5]} are not in a vocabulary of {len(vocab)} tokens")
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
    ### END SOLUTION
