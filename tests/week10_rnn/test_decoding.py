"""Hidden tests of week 10, decoding.py: teacher forcing, free running, the sequence loss and beam search.

Two models. A GRU language model (embedding, nn.GRUCell, dropout, linear head) with seeded
weights: teacher-forced predictions and sequence_nll are compared with nn.GRU run on the whole
shifted input sequence, free running with a step-by-step loop written here. A scripted model,
whose logits for each prefix are drawn from a generator seeded by the prefix (plus a bonus for
EOS, and designed overrides), so every sequence's log-probability is known: a beam wide enough to
keep every hypothesis must return the brute-force best sequence, beam size 1 the greedy one, and
a designed model shows beam 2 finding what greedy misses. The scripted model also counts calls
on a prefix that already ended in EOS (a finished beam that kept growing).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.testing import assert_close, fail, rand_labels, randn

pytestmark = pytest.mark.exercise("decoding")

VOCAB, EMBED, HIDDEN = 6, 4, 8


def _lm_call(m, function, weights, dropout, train_mode, args):
    """Build the GRU language model, call m.<function>(model, *args), report the result and the model's mode."""

    class LanguageModel(nn.Module):
        def __init__(self, vocab, embed, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.cell = nn.GRUCell(embed, hidden)
            self.dropout_layer = nn.Dropout(dropout)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, tokens, state):
            self.grad_modes.append(torch.is_grad_enabled())
            h = self.cell(self.dropout_layer(self.embed(tokens)), state)
            return self.head(self.dropout_layer(h)), h

    vocab, embed = weights["embed.weight"].shape
    model = LanguageModel(vocab, embed, weights["cell.weight_hh"].shape[1]).double()
    model.load_state_dict(weights)
    model.grad_modes = []
    model.train(train_mode)
    torch.manual_seed(0)
    result = getattr(m, function)(model, *args)
    out = {"training_after": model.training, "graph_recorded": any(model.grad_modes)}
    if function == "sequence_nll":
        result.backward()
        out["grads"] = {name: p.grad for name, p in model.named_parameters()}
        result = result.detach()
    out["result"] = result
    return out


def _train_lm(m, weights, bos, targets, steps, lr):
    class LanguageModel(nn.Module):
        def __init__(self, vocab, embed, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.cell = nn.GRUCell(embed, hidden)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, tokens, state):
            h = self.cell(self.embed(tokens), state)
            return self.head(h), h

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only fight over a busy machine
    try:
        vocab, embed = weights["embed.weight"].shape
        model = LanguageModel(vocab, embed, weights["cell.weight_hh"].shape[1]).double()
        model.load_state_dict(weights)
        adam = torch.optim.Adam(model.parameters(), lr=lr)
        history = []
        for _ in range(steps):
            value = m.sequence_nll(model, bos, targets)
            adam.zero_grad(set_to_none=True)
            value.backward()
            adam.step()
            history.append(value.detach().item())
        free = m.decode(model, bos, targets.shape[1])
        forced = m.decode(model, bos, targets.shape[1], targets)
    finally:
        torch.set_num_threads(threads)
    return {"losses": history, "free": free, "forced": forced}


def _scripted_call(m, function, spec, args):
    """Call m.<function>(scripted model, *args); the model's logits are a function of the prefix (see scripted_logits)."""

    class Scripted(nn.Module):
        def __init__(self):
            super().__init__()
            self.after_eos = 0

        def forward(self, tokens, state):
            prefix = tokens.view(-1, 1) if state is None else torch.cat([state, tokens.view(-1, 1)], dim=1)
            rows = []
            for row in prefix.tolist():
                key = ",".join(str(token) for token in row)
                if key in spec["overrides"]:
                    rows.append(torch.tensor(spec["overrides"][key], dtype=torch.float64))
                else:
                    code = spec["seed"]
                    for token in row:
                        code = (code * 1000003 + token + 1) % 2147483647
                    logits = torch.randn(spec["vocab"], generator=torch.Generator().manual_seed(code), dtype=torch.float64)
                    logits = 2.0 * logits
                    logits[spec["eos"]] += spec["eos_bonus"]
                    rows.append(logits)
                if spec["eos"] in row[1:]:
                    self.after_eos += 1
            return torch.stack(rows), prefix

    model = Scripted()
    model.train()
    result = getattr(m, function)(model, *args)
    return {"result": result, "after_eos": model.after_eos, "training_after": model.training}


# --- the GRU language model, by hand ---------------------------------------------------------------------


def lm_weights(seed):
    shapes = {
        "embed.weight": (VOCAB, EMBED),
        "cell.weight_ih": (3 * HIDDEN, EMBED),
        "cell.weight_hh": (3 * HIDDEN, HIDDEN),
        "cell.bias_ih": (3 * HIDDEN,),
        "cell.bias_hh": (3 * HIDDEN,),
        "head.weight": (VOCAB, HIDDEN),
        "head.bias": (VOCAB,),
    }
    # Inputs drive the state strongly and the head is sharp, so free running visits several tokens.
    scales = {"embed.weight": 3.0, "cell.weight_ih": 2.0, "cell.weight_hh": 0.5, "head.weight": 3.0}
    return {name: randn(*shape, seed=seed + i, scale=scales.get(name, 0.3)) for i, (name, shape) in enumerate(shapes.items())}


def lm_logits_over(weights, inputs):
    """Logits (N, T, V) of the language model fed `inputs` (N, T), by nn.GRU over the whole sequence."""
    gru = nn.GRU(EMBED, HIDDEN, batch_first=True).double()
    own = {f"{key[5:]}_l0": value for key, value in weights.items() if key.startswith("cell.")}
    hidden, _ = torch.func.functional_call(gru, own, (F.embedding(inputs, weights["embed.weight"]),))
    return F.linear(hidden, weights["head.weight"], weights["head.bias"])


def lm_free_run(weights, first, steps, feed_bos=False):
    cell = nn.GRUCell(EMBED, HIDDEN).double()
    cell.load_state_dict({key[5:]: value for key, value in weights.items() if key.startswith("cell.")})
    token, h, picked = first, None, []
    with torch.no_grad():
        for _ in range(steps):
            h = cell(F.embedding(token, weights["embed.weight"]), h)
            choice = F.linear(h, weights["head.weight"], weights["head.bias"]).argmax(-1)
            picked.append(choice)
            token = first if feed_bos else choice
    return torch.stack(picked, dim=1)


def with_eos(predictions, eos):
    """Rows after their first eos hold eos; columns after every row has ended are dropped."""
    out = predictions.clone()
    ended = torch.zeros(out.shape[0], dtype=torch.bool)
    last = out.shape[1]
    for col in range(out.shape[1]):
        out[ended, col] = eos
        ended |= out[:, col] == eos
        if bool(ended.all()):
            last = col + 1
            break
    return out[:, :last]


# --- the scripted model, by hand -------------------------------------------------------------------------


def scripted_spec(seed, vocab=4, eos=1, eos_bonus=0.5, overrides=None):
    return {"seed": seed, "vocab": vocab, "eos": eos, "eos_bonus": eos_bonus, "overrides": overrides or {}}


def scripted_logits(spec, prefix):
    key = ",".join(map(str, prefix))
    if key in spec["overrides"]:
        return torch.tensor(spec["overrides"][key], dtype=torch.float64)
    code = spec["seed"]
    for token in prefix:
        code = (code * 1000003 + token + 1) % 2147483647
    values = 2.0 * torch.randn(spec["vocab"], generator=torch.Generator().manual_seed(code), dtype=torch.float64)
    values[spec["eos"]] += spec["eos_bonus"]
    return values


def every_sequence(spec, bos, max_len):
    """(tokens, sum of log-probs, sum of raw logits) of every sequence that ends in eos or reaches max_len."""
    done, frontier = [], [([], 0.0, 0.0)]
    for _ in range(max_len):
        grown = []
        for tokens, score, raw in frontier:
            logits = scripted_logits(spec, [bos, *tokens])
            logp = F.log_softmax(logits, -1)
            for token in range(spec["vocab"]):
                item = (tokens + [token], score + float(logp[token]), raw + float(logits[token]))
                (done if token == spec["eos"] else grown).append(item)
        frontier = grown
    return done + frontier


def greedy_by_hand(spec, bos, max_len):
    tokens, score = [], 0.0
    while len(tokens) < max_len and (not tokens or tokens[-1] != spec["eos"]):
        logp = F.log_softmax(scripted_logits(spec, [bos, *tokens]), -1)
        best = int(logp.argmax())
        tokens.append(best)
        score += float(logp[best])
    return tokens, score


# --- decode on the language model -------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Teacher forcing: step 0 reads BOS, step t > 0 reads the true previous token targets[:, t - 1].")
@pytest.mark.parametrize("n", [1, 4])
def test_decode_with_targets_is_teacher_forcing(student, n):
    weights = lm_weights(100)
    bos = torch.full((n,), 0)
    targets = rand_labels(n, 7, num_classes=VOCAB, seed=101)
    steps = 6
    got = student.run(_lm_call, "decode", weights, 0.0, False, (bos, steps, targets))["result"]
    with torch.no_grad():
        shifted = torch.cat([bos.unsqueeze(1), targets[:, : steps - 1]], dim=1)
        want = lm_logits_over(weights, shifted).argmax(-1)
        own_answer = torch.cat([bos.unsqueeze(1), targets[:, 1:steps]], dim=1)  # step t > 0 reads targets[:, t]
        unshifted = lm_logits_over(weights, own_answer).argmax(-1)
    assert_close(
        got,
        want,
        what="teacher-forced predictions",
        mistakes={
            "step t read targets[:, t] (its own answer): it must read the previous token targets[:, t - 1]": unshifted,
            "the targets were ignored: with targets, feed the true previous token": lm_free_run(weights, bos, steps),
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint("Free running feeds each step the previous step's own prediction (the argmax), starting from BOS.")
@pytest.mark.parametrize("n", [1, 3])
def test_decode_without_targets_is_free_running(student, n):
    weights = lm_weights(206)
    bos = torch.arange(n) % VOCAB
    got = student.run(_lm_call, "decode", weights, 0.0, False, (bos, 8))["result"]
    assert_close(
        got,
        lm_free_run(weights, bos, 8),
        what="free-running predictions",
        mistakes={"BOS was fed at every step: feed back the previous prediction": lm_free_run(weights, bos, 8, feed_bos=True)},
    )


@pytest.mark.points(2)
@pytest.mark.hint("Decoding is inference: switch to eval mode (dropout off) and record no graph; put the model back in its mode afterwards.")
@pytest.mark.parametrize("with_targets", [False, True], ids=["free", "forced"])
def test_decode_runs_in_eval_without_gradients_and_restores_the_mode(student, with_targets):
    weights = lm_weights(300)
    bos = torch.zeros(5, dtype=torch.long)
    targets = rand_labels(5, 6, num_classes=VOCAB, seed=301)
    args = (bos, 6, targets) if with_targets else (bos, 6)
    got = student.run(_lm_call, "decode", weights, 0.5, True, args)
    with torch.no_grad():
        shifted = torch.cat([bos.unsqueeze(1), targets[:, :5]], dim=1)
        want = lm_logits_over(weights, shifted).argmax(-1) if with_targets else lm_free_run(weights, bos, 6)
    assert_close(got["result"], want, what="predictions of a model with dropout 0.5 (eval mode turns it off)")
    if got["graph_recorded"]:
        fail("the model ran with gradients enabled: decode under torch.no_grad()")
    if not got["training_after"]:
        fail("the model was left in eval mode: restore the mode it was in")


@pytest.mark.points(2)
@pytest.mark.hint("After a row predicts EOS it stays EOS; stop as soon as every row has predicted EOS.")
def test_decode_stops_at_eos(student):
    weights, eos = lm_weights(413), 3
    bos = torch.tensor([0, 1, 2, 3, 4, 5])
    free = lm_free_run(weights, bos, 10)
    got = student.run(_lm_call, "decode", weights, 0.0, False, (bos, 10, None, eos))["result"]
    want = with_eos(free, eos)
    if not (want.shape[1] < 10 and (want != free[:, : want.shape[1]]).any()):
        fail("test set-up: every row should reach EOS early and one should go on past it without the rule")
    if got.shape[1] > want.shape[1] and want.shape[1] < 10:
        fail(f"decoding ran {got.shape[1]} steps, but every row had predicted EOS after {want.shape[1]}")
    assert_close(got, want, what=f"predictions with eos = {eos}", mistakes={"tokens after EOS must stay EOS": free[:, : want.shape[1]]})


@pytest.mark.points(1)
@pytest.mark.hint("An EOS that is never predicted changes nothing; a single step is a valid decode.")
def test_decode_with_an_unreached_eos_and_one_step(student):
    weights = lm_weights(450)
    bos = torch.tensor([1, 3])
    free = lm_free_run(weights, bos, 7)
    unused = [token for token in range(VOCAB) if token not in free.flatten().tolist()]
    if not unused:
        fail("test set-up: some token should never be predicted")
    got = student.run(_lm_call, "decode", weights, 0.0, False, (bos, 7, None, unused[0]))["result"]
    assert_close(got, free, what="predictions with an EOS never predicted")
    got = student.run(_lm_call, "decode", weights, 0.0, False, (bos, 1))["result"]
    assert_close(got, free[:, :1], what="a one-step decode")


@pytest.mark.points(1)
@pytest.mark.hint("Greedy decoding takes the argmax of the logits at every step.")
def test_decode_is_greedy_on_the_scripted_model(student):
    spec = scripted_spec(500, vocab=5, eos=4, eos_bonus=-3.0)
    got = student.run(_scripted_call, "decode", spec, (torch.tensor([0]), 5))["result"]
    tokens, _ = greedy_by_hand(spec, 0, 5)
    assert_close(got, torch.tensor([tokens]), what="greedy tokens of the scripted model")


# --- sequence_nll -----------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(2)
@pytest.mark.hint("Score step t on targets[:, t] while it reads BOS or targets[:, t - 1]; average over every token.")
@pytest.mark.parametrize("n", [1, 3])
def test_sequence_nll_is_teacher_forced_cross_entropy(student, n):
    weights = lm_weights(600)
    bos = torch.zeros(n, dtype=torch.long)
    targets = rand_labels(n, 5, num_classes=VOCAB, seed=601)
    got = student.run(_lm_call, "sequence_nll", weights, 0.0, True, (bos, targets))
    leaves = {name: value.clone().requires_grad_() for name, value in weights.items()}
    shifted = torch.cat([bos.unsqueeze(1), targets[:, :-1]], dim=1)
    want = F.cross_entropy(lm_logits_over(leaves, shifted).transpose(1, 2), targets)
    want.backward()
    with torch.no_grad():
        unshifted = F.cross_entropy(lm_logits_over(weights, targets).transpose(1, 2), targets)
    assert_close(
        got["result"],
        want.detach(),
        what="teacher-forced loss",
        mistakes={"step t read targets[:, t], the token it must predict: read the previous one": unshifted},
    )
    assert_close(got["grads"], {name: leaf.grad for name, leaf in leaves.items()}, atol=1e-10, rtol=1e-7, what="gradients")


@pytest.mark.points(2)
@pytest.mark.hint("Train with the teacher-forced loss; at the end, free running should reproduce the memorized sequences.")
def test_training_with_teacher_forcing_then_free_running_reproduces_the_sequences(student):
    weights = lm_weights(700)
    bos = torch.tensor([0, 4])  # two sequences from one BOS could not both be right at step 0
    targets = torch.tensor([[3, 1, 4, 1, 5], [2, 5, 2, 3, 4]])
    got = student.run(_train_lm, weights, bos, targets, 60, 0.05)
    losses = got["losses"]
    if not losses[-1] < 0.2 * losses[0]:
        fail(f"the teacher-forced loss went from {losses[0]:.3f} to {losses[-1]:.3f}: expected a fall below a fifth")
    assert_close(got["forced"], targets, what="teacher-forced predictions after training")
    assert_close(got["free"], targets, what="free-running predictions after training")


# --- beam search ------------------------------------------------------------------------------------------


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Rank candidates by summed log-probabilities (log_softmax, not raw logits); set finished hypotheses aside "
    "and never extend them; normalize by length only when asked."
)
@pytest.mark.parametrize("length_norm", [False, True], ids=["sum", "mean"])
@pytest.mark.parametrize("seed", [800, 801])
def test_wide_beam_search_finds_the_brute_force_best(student, seed, length_norm):
    spec = scripted_spec(seed, vocab=4, eos=1, eos_bonus=0.3)
    max_len = 4
    got = student.run(_scripted_call, "beam_search", spec, (0, 200, max_len, 1, length_norm))
    if got["after_eos"]:
        fail(f"the model was called {got['after_eos']} times on a prefix that had ended in EOS: finished beams must stop growing")
    everything = every_sequence(spec, 0, max_len)
    by_sum = max(everything, key=lambda item: item[1])
    by_mean = max(everything, key=lambda item: item[1] / len(item[0]))
    by_raw = max(everything, key=lambda item: item[2])
    best = by_mean if length_norm else by_sum
    want = (best[0], best[1] / len(best[0]) if length_norm else best[1])
    tokens, score = got["result"]
    mistakes = {"scores summed raw logits: use log-probabilities (log_softmax)": list(by_raw[0])}
    if length_norm:
        mistakes["the winner was not length-normalized (mean log-probability per token) as asked"] = by_sum[0]
    else:
        mistakes["the winner was length-normalized though length_norm is False"] = by_mean[0]
    if tokens != want[0]:
        for message, wrong in mistakes.items():
            if tokens == wrong:
                fail(message)
    assert_close(tokens, want[0], what="best tokens")
    other_score = best[1] if length_norm else best[1] / len(best[0])
    wrong_score = "the score was not length-normalized as asked" if length_norm else "the score was length-normalized though length_norm is False"
    score_mistakes = {wrong_score: other_score} if len(best[0]) > 1 else {}  # one token: its mean is its sum
    assert_close(score, want[1], rtol=1e-9, what="score of the best sequence", mistakes=score_mistakes)
    if not got["training_after"]:
        fail("the model was left in eval mode: restore the mode it was in")


@pytest.mark.points(2)
@pytest.mark.hint("With beam size 1 beam search keeps the single best candidate at each step: it is greedy decoding.")
@pytest.mark.parametrize("seed", [900, 901, 902])
def test_beam_size_1_is_greedy(student, seed):
    spec = scripted_spec(seed, vocab=5, eos=2, eos_bonus=0.0)
    got = student.run(_scripted_call, "beam_search", spec, (3, 1, 6, 2))
    tokens, score = greedy_by_hand(spec, 3, 6)
    assert_close(got["result"][0], tokens, what="tokens with beam size 1")
    assert_close(got["result"][1], score, rtol=1e-9, what="score with beam size 1")


@pytest.mark.points(2)
@pytest.mark.hint("Compare candidates from every hypothesis together; a finished hypothesis keeps its score and competes at the end.")
def test_beam_2_finds_what_greedy_misses(student):
    third = [0.0, 0.0, 0.0]
    overrides = {
        "0": [0.5, 0.1, 0.4],  # token 0 ("a") is the greedy choice, token 2 ("b") comes second
        "0,0": third,
        "0,2": [0.05, 0.9, 0.05],  # after "b", EOS (token 1) is almost certain
    }
    overrides = {key: torch.tensor(probs).clamp_min(1e-9).log().tolist() if key != "0,0" else probs for key, probs in overrides.items()}
    spec = scripted_spec(1000, vocab=3, eos=1, eos_bonus=0.0, overrides=overrides)
    got = student.run(_scripted_call, "beam_search", spec, (0, 2, 3, 1))
    tokens, score = got["result"]
    if tokens == greedy_by_hand(spec, 0, 3)[0]:
        fail("beam size 2 returned the greedy sequence: keep the 2 best candidates over both hypotheses")
    assert_close(tokens, [2, 1], what="tokens with beam size 2")
    assert_close(score, float(torch.tensor(0.4 * 0.9).log()), rtol=1e-9, what="score with beam size 2")
    if got["after_eos"]:
        fail("the model was called on a prefix that had ended in EOS: finished beams must stop growing")


@pytest.mark.points(1)
@pytest.mark.hint("A hypothesis that reaches max_len without EOS is finished too; return a list of ints and a float.")
def test_beam_search_without_any_eos_stops_at_max_len(student):
    spec = scripted_spec(1100, vocab=4, eos=3, eos_bonus=-50.0)
    got = student.run(_scripted_call, "beam_search", spec, (0, 3, 3, 3))
    tokens, score = got["result"]
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
        fail(f"tokens should be a list of ints, got {tokens!r}")
    if not isinstance(score, float):
        fail(f"the score should be a float, got {type(score).__name__}")
    best = max(every_sequence(spec, 0, 3), key=lambda item: item[1])
    assert_close(tokens, best[0], what="tokens when EOS is (nearly) impossible")
    assert_close(score, best[1], rtol=1e-9, what="score when EOS is (nearly) impossible")
