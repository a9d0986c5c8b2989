"""Hidden tests of week 11, bpe.py: a byte-level BPE tokenizer.

There is no built-in with these exact rules (most frequent pair; ties to the lexicographically
smallest pair; overlapping occurrences counted; no merge of a pair seen once; merges applied in
learned order, left to right, without overlap), so the expected values come from a small
independent implementation in this file, written differently from the reference, and from a few
cases small enough to check by hand (the "aaa" case). The same implementation, with one rule
changed, names the classic mistakes (ties broken by first occurrence, non-overlapping counts,
encoding by re-counting pairs instead of replaying the merges). Round trips use Unicode text the
tokenizer never saw: accents, CJK, emoji.
"""

from __future__ import annotations

import pytest

from grader.testing import fail

pytestmark = pytest.mark.exercise("bpe")

CORPUS = (
    "the cat sat on the mat. the cat ate the rat. "
    "a theme: that cat, this hat, those mats; then the bath. "
    "naïve café, naïve résumé, naïve café."
)
UNSEEN = ["the hat that sat", "Ünïcödé: 猫は寝ている 🐈‍⬛🌍!", "", "  \n\t\x00", "aaaaaaa", "ééé"]


def replace_pair(seq, a, b):
    """Left-to-right, non-overlapping replacement of (a, b) by a + b in a list of byte strings."""
    out, skip = [], False
    for pos, tok in enumerate(seq):
        if skip:
            skip = False
            continue
        if tok == a and pos + 1 < len(seq) and seq[pos + 1] == b:
            out.append(a + b)
            skip = True
        else:
            out.append(tok)
    return out


def pair_counts(seq, overlapping=True):
    counts, first_seen = {}, {}
    pos = 0
    while pos + 1 < len(seq):
        key = (seq[pos], seq[pos + 1])
        counts[key] = counts.get(key, 0) + 1
        first_seen.setdefault(key, pos)
        if not overlapping and seq[pos] == seq[pos + 1] and pos + 2 < len(seq) and seq[pos + 2] == seq[pos]:
            pos += 2  # count a run "xxx" as one (x, x), as str.count would
        else:
            pos += 1
    return counts, first_seen


def learn(corpus, n, tie="smallest", overlapping=True, min_count=2):
    seq = [bytes([c]) for c in corpus.encode("utf-8")]
    learned = []
    while len(learned) < n:
        counts, first_seen = pair_counts(seq, overlapping)
        if not counts:
            break
        top = max(counts.values())
        tied = [key for key, c in counts.items() if c == top]
        if tie == "smallest":
            pick = sorted(tied)[0]
        elif tie == "largest":
            pick = sorted(tied)[-1]
        else:
            pick = sorted(tied, key=first_seen.get)[0]
        if top < min_count:
            break
        learned.append(pick)
        seq = replace_pair(seq, *pick)
    return learned


def token_ids(merges):
    table = {bytes([c]): c for c in range(256)}
    for number, (a, b) in enumerate(merges):
        table.setdefault(a + b, 256 + number)
    return table


def apply_in_order(text, merges):
    seq = [bytes([c]) for c in text.encode("utf-8")]
    for a, b in merges:
        seq = replace_pair(seq, a, b)
    table = token_ids(merges)
    return [table[tok] for tok in seq]


def apply_by_recounting(text, merges):
    """The mistake: repeatedly merge the text's own most frequent known pair, ignoring the learned order."""
    seq = [bytes([c]) for c in text.encode("utf-8")]
    known = set(merges)
    while True:
        counts, _ = pair_counts(seq)
        candidates = [(-c, key) for key, c in counts.items() if key in known]
        if not candidates:
            break
        seq = replace_pair(seq, *min(candidates)[1])
    table = token_ids(merges)
    return [table[tok] for tok in seq]


def _error_for_decode(m, ids, merges):
    try:
        m.decode(ids, merges)
    except NotImplementedError:
        raise
    except ValueError:
        return "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is reported by name
        return type(error).__name__
    return "no error"


def check_merges(got, want, what, mistakes=()):
    if not isinstance(got, list) or not all(
        isinstance(p, tuple) and len(p) == 2 and all(isinstance(t, bytes) for t in p) for p in got
    ):
        fail(f"{what}: a list of (bytes, bytes) pairs was expected, got {type(got).__name__}")
    if got == want:
        return
    for message, wrong in mistakes:
        if got == wrong:
            fail(f"{what}: {message}")
    if len(got) != len(want):
        fail(f"{what}: {len(want)} merges expected, got {len(got)}")
    first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    fail(f"{what}: merge {first} differs (first {first} merges agree)")


# --- merge_pair ------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Scan left to right; when the pair matches, emit the merged token and continue after BOTH tokens, so "
    "occurrences never overlap: merging (a, a) in a a a gives [aa, a]."
)
def test_merge_pair_is_left_to_right_without_overlap(student):
    a = b"a"
    got = student.merge_pair([a, a, a], (a, a))
    if got == [a, b"aa"]:
        fail("merge_pair([a, a, a], (a, a)) gave [a, aa]: merge from the left")
    if isinstance(got, list) and all(isinstance(t, bytes) for t in got) and len(b"".join(got)) > 3:
        fail(f"merge_pair([a, a, a], (a, a)) gave {got!r}: a token was used by two merges (more bytes out than in)")
    if got != [b"aa", a]:
        fail(f"merge_pair([a, a, a], (a, a)) gave {got!r}, expected [b'aa', b'a']")
    for tokens, pair in (([a] * 4, (a, a)), ([a] * 5, (a, a)), ([b"b", a, a, a, a, a, b"b"], (a, a))):
        want = replace_pair(tokens, *pair)
        got = student.merge_pair(tokens, pair)
        if got != want:
            fail(f"merge_pair({tokens!r}, {pair!r}) gave {got!r}, expected {want!r}")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Tokens are whole byte strings: compare tokens, not bytes (b'ab' followed by b'c' is the pair (ab, c), "
    "but b'a' followed by b'bc' is not). An empty or one-token list has no pair."
)
def test_merge_pair_on_multibyte_tokens_and_tiny_lists(student):
    for tokens, pair in (
        ([b"ab", b"c", b"ab", b"ab", b"c"], (b"ab", b"c")),
        ([b"a", b"bc", b"ab", b"c"], (b"ab", b"c")),
        ([b"x", b"y"], (b"y", b"x")),
        ([b"\xc3", b"\xa9", b"\xc3\xa9"], (b"\xc3", b"\xa9")),
        ([], (b"a", b"a")),
        ([b"a"], (b"a", b"a")),
    ):
        want = replace_pair(tokens, *pair)
        got = student.merge_pair(tokens, pair)
        if got != want:
            fail(f"merge_pair({tokens!r}, {pair!r}) gave {got!r}, expected {want!r}")


# --- training --------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Each step: count every adjacent pair (overlaps included), merge the most frequent; on a tie take the smallest "
    "(left, right) as Python orders tuples of bytes; stop when no pair occurs twice."
)
@pytest.mark.parametrize("num_merges", [1, 10, 40], ids=str)
def test_train_bpe_matches_the_stated_rule(student, num_merges):
    want = learn(CORPUS, num_merges)
    check_merges(
        student.train_bpe(CORPUS, num_merges),
        want,
        f"train_bpe(corpus, {num_merges})",
        mistakes=[
            (
                "ties broken by first occurrence; the rule is the lexicographically smallest pair",
                learn(CORPUS, num_merges, tie="first"),
            ),
            (
                "ties broken towards the largest pair; the rule is the smallest",
                learn(CORPUS, num_merges, tie="largest"),
            ),
            (
                "pairs seen only once were merged; stop when no pair occurs at least twice",
                learn(CORPUS, num_merges, min_count=1),
            ),
        ],
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "When several pairs have the top count, the lexicographically smallest (left, right) wins: here (a, b) beats "
    "(c, d) although (c, d) comes first in the text."
)
def test_train_bpe_breaks_ties_by_the_smallest_pair(student):
    corpus = "cdab cdab"
    want = learn(corpus, 3)
    assert want[0] == (b"a", b"b")
    check_merges(
        student.train_bpe(corpus, 3),
        want,
        f"train_bpe({corpus!r}, 3)",
        mistakes=[
            (
                "ties broken by first occurrence; the rule is the lexicographically smallest pair",
                learn(corpus, 3, tie="first"),
            ),
            ("ties broken towards the largest pair; the rule is the smallest", learn(corpus, 3, tie="largest")),
        ],
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A pair's count is the number of positions where it occurs, overlaps included: a a a holds (a, a) twice, "
    "which ties it with (x, y) in 'aaa xyxy'."
)
def test_train_bpe_counts_overlapping_pairs(student):
    corpus = "aaa xyxy"
    want = learn(corpus, 1)
    check_merges(
        student.train_bpe(corpus, 1),
        want,
        f"train_bpe({corpus!r}, 1)",
        mistakes=[
            ("a a a was counted as one (a, a): count overlapping occurrences", learn(corpus, 1, overlapping=False))
        ],
    )


@pytest.mark.points(1)
@pytest.mark.hint(
    "No pair repeats in 'abcdef'; after merging (a, b), 'abab' is [ab, ab] whose only pair occurs once. Stop early."
)
def test_train_bpe_stops_early_and_handles_tiny_corpora(student):
    for corpus, n in (("abcdef", 5), ("abab", 5), ("", 3), ("x", 2), ("hello hello", 0)):
        check_merges(student.train_bpe(corpus, n), learn(corpus, n), f"train_bpe({corpus!r}, {n})")


@pytest.mark.points(1)
@pytest.mark.hint("Train on UTF-8 bytes: 'é' is the two bytes C3 A9, and a pair can join them into one token.")
def test_train_bpe_works_on_the_utf8_bytes_of_unicode_text(student):
    corpus = "ééé 猫猫 ééé"
    check_merges(student.train_bpe(corpus, 6), learn(corpus, 6), f"train_bpe({corpus!r}, 6)")


# --- encode / decode -------------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.hint(
    "Encode by replaying the learned merges one after another in the order they were learned, each over the "
    "whole text; ids are 0..255 for bytes and 256 + i for merge i."
)
@pytest.mark.parametrize(
    "text", UNSEEN[:2] + ["the cat sat on the mat", "aaaaaaa"], ids=["hat", "unicode", "seen", "run"]
)
def test_encode_applies_the_merges_in_learned_order(student, text):
    merges = learn(CORPUS, 40)
    got = student.encode(text, merges)
    want = apply_in_order(text, merges)
    if got != want and got == apply_by_recounting(text, merges):
        fail("encode re-counted the pairs of the text: apply the learned merges in the order they were learned")
    if got != want:
        fail(f"encode({text!r}) gave {got}, expected {want}")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Merge order matters: with merges [(b, c), (a, b)], 'abc' becomes [a, bc] (the first merge wins), not [ab, c]."
)
def test_encode_uses_the_order_of_the_merge_list(student):
    merges = [(b"b", b"c"), (b"a", b"b"), (b"a", b"a"), (b"aa", b"a")]
    for text in ("abc", "aaaa", "aaabcab", "aaaaa"):
        got = student.encode(text, merges)
        want = apply_in_order(text, merges)
        if got != want:
            fail(f"encode({text!r}, {merges}) gave {got}, expected {want}")


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "decode joins the bytes of every id and decodes them as UTF-8: decode(encode(s)) must give s back for any string."
)
@pytest.mark.parametrize("text", UNSEEN, ids=["hat", "unicode", "empty", "whitespace", "run", "accents"])
def test_decode_of_encode_round_trips_unseen_text(student, text):
    merges = learn(CORPUS, 40)
    ids = student.encode(text, merges)
    back = student.decode(ids, merges)
    if back != text:
        fail(f"decode(encode({text!r})) gave {back!r}")
    if ids != apply_in_order(text, merges):
        fail(f"encode({text!r}) gave {ids}, expected {apply_in_order(text, merges)}")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Ids cut in the middle of a UTF-8 character are not valid text: decode them with errors='replace' (U+FFFD). "
    "An id outside the vocabulary (256 + number of merges) is a ValueError."
)
def test_decode_replaces_broken_utf8_and_rejects_unknown_ids(student):
    merges = learn(CORPUS, 10)
    broken = [0xE2, 0x82, 104, 105]
    want = bytes(broken).decode("utf-8", errors="replace")
    got = student.decode(broken, merges)
    if got != want:
        fail(f"decode of a truncated UTF-8 character gave {got!r}, expected {want!r}")
    for bad in ([256 + len(merges)], [-1], [0, 999]):
        raised = student.run(_error_for_decode, bad, merges)
        if raised != "ValueError":
            fail(f"decode({bad}) with {len(merges)} merges gave {raised}, expected a ValueError")


@pytest.mark.points(1)
@pytest.mark.hint("The vocabulary has 256 byte tokens, then merge i's token left + right under id 256 + i.")
def test_vocabulary_maps_ids_to_bytes(student):
    merges = learn(CORPUS, 12)
    vocab = student.vocabulary(merges)
    if not isinstance(vocab, dict) or len(vocab) != 256 + len(merges):
        fail(f"vocabulary of {len(merges)} merges: {256 + len(merges)} entries expected")
    for token_id in (0, 65, 255):
        if vocab[token_id] != bytes([token_id]):
            fail(f"vocabulary[{token_id}] is {vocab[token_id]!r}, expected {bytes([token_id])!r}")
    for number, (a, b) in enumerate(merges):
        if vocab.get(256 + number) != a + b:
            fail(f"vocabulary[{256 + number}] is {vocab.get(256 + number)!r}, expected merge {number}: {a + b!r}")


@pytest.mark.points(1)
@pytest.mark.hint("Without merges the vocabulary is exactly the 256 single bytes, ids 0..255.")
def test_vocabulary_of_no_merges_is_the_256_bytes(student):
    vocab = student.vocabulary([])
    if not isinstance(vocab, dict) or sorted(vocab) != list(range(256)):
        fail("vocabulary([]) must have the keys 0..255 and nothing else")
    wrong = [i for i in range(256) if vocab[i] != bytes([i])]
    if wrong:
        fail(f"vocabulary([])[{wrong[0]}] is {vocab[wrong[0]]!r}, expected {bytes([wrong[0]])!r}")


@pytest.mark.points(1)
@pytest.mark.hint(
    "Two merges can make the same bytes ((ab, c) and (a, bc) both make abc). A token is its bytes, and it keeps the id "
    "of the FIRST merge that made it."
)
def test_encode_gives_a_token_made_twice_the_id_of_its_first_merge(student):
    merges = [(b"a", b"b"), (b"ab", b"c"), (b"b", b"c"), (b"a", b"bc")]
    for text in ("abc", "abcbc", "xabc"):
        got = student.encode(text, merges)
        want = apply_in_order(text, merges)
        if got != want:
            fail(f"encode({text!r}, {merges}) gave {got}, expected {want} (abc is token 257, its first merge)")
    back = student.decode(apply_in_order("abcabc", merges), merges)
    if back != "abcabc":
        fail(f"decode of the ids of 'abcabc' gave {back!r}")
