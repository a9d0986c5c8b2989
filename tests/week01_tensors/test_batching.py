"""Hidden tests of week 1, batching.py: shuffled minibatches from a seeded generator, steps per epoch.

A shuffled epoch is judged by its structure, never by its exact random order (a correct
implementation may draw its permutation in any way): every index exactly once, batch sizes,
determinism under a seed, fresh orders for later epochs, independence from torch's global random
state, and a first index that is uniform over many epochs. Generators and iterators cannot cross
the transport, so probes build the generator from a seed and return the batches as a list.
"""

from __future__ import annotations

import math

import pytest
import torch

from grader.testing import assert_close, fail

pytestmark = pytest.mark.exercise("batching")


def _epochs(m, n, batch_size, seed, epochs=1, shuffle=True, drop_last=False):
    g = torch.Generator().manual_seed(seed)
    return [
        list(m.minibatches(n, batch_size, shuffle=shuffle, generator=g, drop_last=drop_last)) for _ in range(epochs)
    ]


def _global_rng_runs(m, n, batch_size, seed):
    saved = torch.get_rng_state()
    runs = []
    try:
        for global_seed in (0, 1):
            torch.manual_seed(global_seed)
            g = torch.Generator().manual_seed(seed)
            before = g.get_state()
            batches = list(m.minibatches(n, batch_size, shuffle=True, generator=g, drop_last=False))
            runs.append(
                {
                    "batches": batches,
                    "advanced": not torch.equal(before, g.get_state()),
                    "global_untouched": torch.equal(torch.get_rng_state(), torch.manual_seed(global_seed).get_state()),
                }
            )
    finally:
        torch.set_rng_state(saved)
    return runs


def _error_of(m, name, args, kwargs):
    try:
        result = getattr(m, name)(*args, **kwargs)
        if name == "minibatches":
            list(result)
    except NotImplementedError:
        raise
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None


def check_batch_types(batches, what: str) -> None:
    __tracebackhide__ = True
    if not isinstance(batches, list):
        fail(f"{what}: the batches could not be listed, got {type(batches).__name__}")
    for i, batch in enumerate(batches):
        if not isinstance(batch, torch.Tensor) or batch.dim() != 1:
            kind = (
                f"a tensor of shape {tuple(batch.shape)}" if isinstance(batch, torch.Tensor) else type(batch).__name__
            )
            fail(f"{what}: batch {i} is {kind}, expected a 1-D LongTensor of indices")
        if batch.dtype != torch.int64:
            fail(f"{what}: batch {i} has dtype {batch.dtype}, expected a LongTensor (torch.int64) of indices")


def check_epoch(batches, n: int, batch_size: int, drop_last: bool, what: str) -> None:
    """Fail unless the batches are one valid epoch: sizes, then every index exactly once."""
    __tracebackhide__ = True
    check_batch_types(batches, what)
    full, rest = divmod(n, batch_size)
    sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
    got_sizes = [len(batch) for batch in batches]
    if got_sizes != sizes:
        if drop_last and got_sizes == sizes + [rest]:
            fail(f"{what}: drop_last=True still yielded the partial last batch of size {rest}")
        if drop_last and not rest and got_sizes == sizes[:-1]:
            fail(f"{what}: drop_last=True dropped a full batch; only a partial last batch is dropped")
        if not drop_last and rest and got_sizes == sizes[:-1]:
            fail(f"{what}: the partial last batch of size {rest} was dropped, but drop_last=False keeps it")
        fail(f"{what}: batch sizes {got_sizes}, expected {sizes}")
    if not batches:
        return
    indices = torch.cat(batches)
    if ((indices < 0) | (indices >= n)).any():
        fail(f"{what}: index {indices[(indices < 0) | (indices >= n)][0].item()} is out of range for n = {n}")
    counts = torch.bincount(indices, minlength=n)
    if (counts > 1).any():
        index = int(torch.nonzero(counts > 1)[0])
        fail(f"{what}: index {index} appears {int(counts[index])} times in one epoch, expected once")
    if not drop_last and (counts == 0).any():
        fail(f"{what}: index {int(torch.nonzero(counts == 0)[0])} never appears in the epoch")


# --- minibatches ----------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(1)
@pytest.mark.hint(
    "Without shuffling an epoch is 0, 1, ..., n-1 cut into consecutive slices of batch_size, each a 1-D LongTensor."
)
def test_minibatches_without_shuffle_are_consecutive_slices(student):
    for n, batch_size, drop_last in ((10, 3, False), (10, 3, True), (12, 4, False), (5, 8, False)):
        (batches,) = student.run(_epochs, n, batch_size, 0, shuffle=False, drop_last=drop_last)
        what = f"minibatches({n}, {batch_size}, shuffle=False, drop_last={drop_last})"
        check_batch_types(batches, what)
        want = list(torch.arange(n).split(batch_size))
        if drop_last and n % batch_size:
            want = want[:-1]
        assert_close(batches, want, what=what)


@pytest.mark.points(1)
@pytest.mark.hint(
    "Shuffle by drawing one random permutation of 0..n-1 per epoch and slicing it: "
    "each index then lands in exactly one batch (sampling indices at random can repeat some and miss others)."
)
@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (37, 8)], ids=str)
def test_minibatches_visit_every_index_exactly_once_per_epoch(student, n, batch_size):
    epochs = student.run(_epochs, n, batch_size, 1, epochs=3)
    for number, batches in enumerate(epochs):
        check_epoch(batches, n, batch_size, False, f"epoch {number} of minibatches({n}, {batch_size}, shuffle=True)")


@pytest.mark.points(2)
@pytest.mark.hint(
    "With n = 10 and batch_size = 4 an epoch has batches of 4, 4 and 2; drop_last=True drops only the short one. "
    "Where does the last FULL batch end?"
)
def test_minibatches_keep_or_drop_the_last_partial_batch(student):
    for n, batch_size in ((10, 4), (12, 4), (13, 5)):
        for shuffle in (False, True):
            for drop_last in (False, True):
                (batches,) = student.run(_epochs, n, batch_size, 2, shuffle=shuffle, drop_last=drop_last)
                what = f"minibatches({n}, {batch_size}, shuffle={shuffle}, drop_last={drop_last})"
                check_epoch(batches, n, batch_size, drop_last, what)


@pytest.mark.points(2)
@pytest.mark.hint(
    "Draw each epoch's permutation from the generator you are given, once per call: the same seed must give the "
    "same epochs, and the next call with the same (advanced) generator a new order."
)
def test_minibatches_same_seed_same_epochs_and_the_next_epoch_differs(student):
    first = student.run(_epochs, 20, 6, 3, epochs=2)
    again = student.run(_epochs, 20, 6, 3, epochs=2)
    other = student.run(_epochs, 20, 6, 4, epochs=2)
    for batches in first + other:
        check_epoch(batches, 20, 6, False, "minibatches(20, 6, shuffle=True)")
    if not all(torch.equal(torch.cat(a), torch.cat(b)) for a, b in zip(first, again, strict=True)):
        fail("two generators with the same seed gave different epochs")
    if torch.equal(torch.cat(first[0]), torch.cat(first[1])):
        fail("two consecutive epochs drawn from one generator have the same order: draw a new permutation per epoch")
    if torch.equal(torch.cat(first[0]), torch.cat(other[0])):
        fail("generators with different seeds gave the same order: the permutation must come from the generator")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Pass generator=... to every random call (torch.randperm takes one): torch's global random state must "
    "neither change your batches nor be changed by them."
)
def test_minibatches_draw_from_the_given_generator_only(student):
    runs = student.run(_global_rng_runs, 15, 4, 5)
    for run in runs:
        check_epoch(run["batches"], 15, 4, False, "minibatches(15, 4, shuffle=True)")
    if not torch.equal(torch.cat(runs[0]["batches"]), torch.cat(runs[1]["batches"])):
        fail("reseeding torch's global random generator changed the batches: draw the order from `generator`")
    if not all(run["advanced"] for run in runs):
        fail("the generator argument was never used to draw the order")
    if not all(run["global_untouched"] for run in runs):
        fail("minibatches() drew from torch's global random generator; use only the given one")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Shuffle the examples, not only the batches: in a shuffled epoch any example can be first, "
    "and a batch mixes examples from all over the dataset."
)
def test_minibatches_shuffle_examples_uniformly_across_batches(student):
    n, batch_size, epochs = 6, 3, 3000
    runs = student.run(_epochs, n, batch_size, 6, epochs=epochs)
    for batches in runs[:5]:
        check_epoch(batches, n, batch_size, False, f"minibatches({n}, {batch_size}, shuffle=True)")
    blocks = all(
        torch.equal(batch.sort().values, torch.arange(int(batch.min()), int(batch.min()) + len(batch)))
        for batches in runs
        for batch in batches
    )
    if blocks:
        fail("only the order of the batches (or within them) was shuffled: every batch is a block of neighbours")
    first = torch.tensor([int(batches[0][0]) for batches in runs])
    freq = torch.bincount(first, minlength=n).double() / epochs
    tolerance = 6 * math.sqrt((1 / n) * (1 - 1 / n) / epochs)  # 6 standard errors
    if ((freq - 1 / n).abs() > tolerance).any():
        shown = ", ".join(f"{f:.3f}" for f in freq.tolist())
        fail(
            f"the first index of an epoch is not uniform over {epochs} epochs: frequencies [{shown}], each ≈ {1 / n:.3f}"
        )


@pytest.mark.points(2)
@pytest.mark.hint(
    "With fewer examples than batch_size the only batch is the partial one: kept unless drop_last. "
    "With n = 0 there is nothing to yield, and that is not an error."
)
def test_minibatches_of_small_and_empty_datasets(student):
    for n, batch_size in ((3, 8), (1, 4), (0, 4), (0, 1)):
        for drop_last in (False, True):
            (batches,) = student.run(_epochs, n, batch_size, 7, drop_last=drop_last)
            check_epoch(batches, n, batch_size, drop_last, f"minibatches({n}, {batch_size}, drop_last={drop_last})")


@pytest.mark.points(1)
@pytest.mark.hint("A batch_size below 1 or a negative n has no meaning: raise ValueError (also in steps_per_epoch).")
def test_minibatches_and_steps_per_epoch_reject_bad_arguments(student):
    for name in ("minibatches", "steps_per_epoch"):
        for n, batch_size in ((10, 0), (10, -2), (-1, 4)):
            error = student.run(_error_of, name, [n, batch_size], {})
            if error is None or error[0] != "ValueError":
                got = "no error" if error is None else error[0]
                fail(f"{name}({n}, {batch_size}) gave {got}, expected a ValueError")


# --- steps_per_epoch ------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint(
    "Count the full batches, then add one for a partial batch only if there is one and it is kept. "
    "Try n = 12 with batch_size = 4 and with batch_size = 5 by hand."
)
def test_steps_per_epoch_is_ceil_or_floor(student):
    for n in (0, 1, 5, 8, 9, 12, 13, 100, 1001):
        for batch_size in (1, 4, 8, 13, 64):
            for drop_last in (False, True):
                want = n // batch_size if drop_last else math.ceil(n / batch_size)
                call = f"steps_per_epoch({n}, {batch_size}, drop_last={drop_last})"
                got = student.steps_per_epoch(n, batch_size, drop_last=drop_last)
                if not isinstance(got, int) or isinstance(got, bool):
                    fail(f"{call} returned {got!r}, expected the int {want}")
                if got == want:
                    continue
                if n % batch_size == 0 and got == want + 1:
                    fail(f"{call} returned {got}, expected {want}: one step too many when batch_size divides n")
                if drop_last and got == math.ceil(n / batch_size):
                    fail(f"{call} returned {got}, expected {want}: drop_last ignored, the partial batch was counted")
                if not drop_last and got == n // batch_size:
                    fail(f"{call} returned {got}, expected {want}: the partial last batch is a step too")
                fail(f"{call} returned {got}, expected {want}")


@pytest.mark.points(1)
@pytest.mark.hint("steps_per_epoch must count exactly the batches that minibatches yields, for both drop_last values.")
def test_steps_per_epoch_counts_the_batches_of_minibatches(student):
    for n, batch_size in ((10, 3), (12, 4), (3, 8), (0, 2)):
        for drop_last in (False, True):
            (batches,) = student.run(_epochs, n, batch_size, 8, drop_last=drop_last)
            steps = student.steps_per_epoch(n, batch_size, drop_last=drop_last)
            if steps != len(batches):
                fail(
                    f"n = {n}, batch_size = {batch_size}, drop_last = {drop_last}: steps_per_epoch() says {steps}, "
                    f"minibatches() yielded {len(batches)} batches"
                )


@pytest.mark.points(1)
@pytest.mark.hint(
    "Above 2**53 a float cannot hold every integer, so n / batch_size rounds before the ceiling is taken: "
    "count with integers only (// and %)."
)
def test_steps_per_epoch_is_exact_for_huge_n(student):
    for n, batch_size in ((10**17 + 1, 10), (2**60 + 3, 4), (2**53 + 1, 1)):
        for drop_last in (False, True):
            want = n // batch_size if drop_last else -(-n // batch_size)  # Python ints: exact
            got = student.steps_per_epoch(n, batch_size, drop_last=drop_last)
            if got != want:
                fail(
                    f"steps_per_epoch({n}, {batch_size}, drop_last={drop_last}) returned {got!r}, expected {want}: "
                    "off for a huge n (float division rounds above 2**53)"
                )
