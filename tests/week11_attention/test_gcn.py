"""Hidden tests of week 11, gcn.py (★): one graph-convolution layer by message passing.

The expected output is the dense formula D^{-1/2}(A + I)D^{-1/2} X W, built here with torch from
the edge list at test time (A[i, j] counts the edges j -> i, accumulated with index_put_), on a
single node, a small undirected graph and a random directed multigraph with isolated nodes,
duplicate edges and a self-loop. The classic variants (random-walk normalization D^{-1}(A + I), no
self-loops, the edges reversed, duplicate edges counted once) are named. Permuting the node labels
must permute the output rows (equivariance); gradients are compared with autograd's through the
dense formula.
"""

from __future__ import annotations

import pytest
import torch

from grader.testing import assert_close, fail, generator, randn

pytestmark = pytest.mark.exercise("gcn")


def dense_adjacency(edge_index, n, dedup=False, reverse=False):
    src, dst = (edge_index[1], edge_index[0]) if reverse else (edge_index[0], edge_index[1])
    A = torch.zeros(n, n, dtype=torch.float64)
    if dedup:
        A[dst, src] = 1.0
    else:
        A.index_put_((dst, src), torch.ones(src.shape[0], dtype=torch.float64), accumulate=True)
    return A


def dense_gcn(x, edge_index, W, variant="right"):
    n = x.shape[0]
    A = dense_adjacency(edge_index, n, dedup=variant == "dedup", reverse=variant == "reverse")
    if variant != "no_self_loops":
        A = A + torch.eye(n, dtype=A.dtype)
    deg = A.sum(1)
    if variant == "random_walk":
        return torch.diag(1 / deg) @ A @ x @ W
    scale = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return torch.diag(scale) @ A @ torch.diag(scale) @ x @ W


def undirected(pairs):
    one_way = torch.tensor(pairs).T
    return torch.cat([one_way, one_way.flip(0)], dim=1)


def random_multigraph(n, n_edges, seed):
    """Random directed edges among nodes 0..n-3 (the last two stay isolated), plus a duplicate and a self-loop."""
    g = generator(seed)
    edges = torch.randint(0, n - 2, (2, n_edges), generator=g)
    extra = torch.tensor([[edges[0, 0], 1], [edges[1, 0], 1]])
    return torch.cat([edges, extra], dim=1)


GRAPHS = {
    "single_node": (1, torch.zeros(2, 0, dtype=torch.long)),
    "undirected_path": (5, undirected([(0, 1), (1, 2), (2, 3), (1, 4)])),
    "directed_multigraph": (9, random_multigraph(9, 15, seed=3)),
}


def _grads(m, x, edge_index, W):
    x, W = x.clone().requires_grad_(), W.clone().requires_grad_()
    out = m.gcn_layer(x, edge_index, W)
    out.backward(torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    return [x.grad, W.grad]


@pytest.mark.public
@pytest.mark.points(3)
@pytest.mark.hint(
    "Each message j -> i is h_j = x_j W weighted by 1/√(deg_i·deg_j), where deg counts the edges INTO a node plus "
    "its self-loop; every node also receives its own h_i / deg_i."
)
@pytest.mark.parametrize("graph", list(GRAPHS), ids=str)
def test_gcn_layer_matches_the_dense_formula(student, graph):
    n, edge_index = GRAPHS[graph]
    x = randn(n, 4, seed=1)
    W = randn(4, 3, seed=2)
    A = dense_adjacency(edge_index, n)
    mistakes = {}
    if edge_index.shape[1] > 0:  # without edges every degree is 1, and both normalizations are the identity
        mistakes["normalized as D^-1 (A + I) (a mean over neighbours); GCN uses D^-1/2 on both sides"] = dense_gcn(
            x, edge_index, W, "random_walk"
        )
    mistakes["the self-loops are missing: use A + I, so that each node keeps its own features"] = dense_gcn(
        x, edge_index, W, "no_self_loops"
    )
    if not torch.equal(A, A.T):  # an undirected graph has every edge both ways
        mistakes["the edges point the wrong way: edge j -> i (row 0 source, row 1 target) sends x_j to node i"] = (
            dense_gcn(x, edge_index, W, "reverse")
        )
    if (A > 1).any():  # no edge is listed twice: there is nothing to count once
        mistakes["duplicate edges counted once: each listed edge adds one message"] = dense_gcn(x, edge_index, W, "dedup")
    assert_close(
        student.gcn_layer(x, edge_index, W),
        dense_gcn(x, edge_index, W),
        what=f"gcn_layer on {graph}",
        mistakes=mistakes,
    )


@pytest.mark.points(1)
@pytest.mark.hint("A node without edges has degree 1 (its self-loop) and keeps x_i W.")
def test_gcn_layer_isolated_nodes_keep_x_W(student):
    n, edge_index = GRAPHS["directed_multigraph"]
    x, W = randn(n, 4, seed=4), randn(4, 2, seed=5)
    got = student.gcn_layer(x, edge_index, W)
    assert_close(
        got[-2:] if hasattr(got, "shape") and got.shape == (n, 2) else got,
        (x @ W)[-2:],
        what="rows of the isolated nodes",
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "A duplicated edge sends its message twice and raises the degree twice (accumulate with index_add / scatter-add, "
    "never assign into an index)."
)
def test_gcn_layer_counts_duplicate_edges(student):
    edge_index = torch.tensor([[0, 0, 0, 2], [1, 1, 1, 1]])
    x, W = randn(3, 3, seed=6), randn(3, 3, seed=7)
    assert_close(
        student.gcn_layer(x, edge_index, W),
        dense_gcn(x, edge_index, W),
        what="three copies of edge 0 -> 1",
        mistakes={
            "duplicate edges counted once: each listed edge adds one message": dense_gcn(x, edge_index, W, "dedup")
        },
    )


@pytest.mark.points(2)
@pytest.mark.hint(
    "Nothing in the layer may depend on the node numbering: relabel the nodes and the output rows follow."
)
def test_gcn_layer_is_permutation_equivariant(student):
    n, edge_index = GRAPHS["directed_multigraph"]
    x, W = randn(n, 4, seed=8), randn(4, 3, seed=9)
    perm = torch.randperm(n, generator=generator(10))
    new_label = torch.empty_like(perm)
    new_label[perm] = torch.arange(n)  # node perm[k] becomes node k
    out = student.gcn_layer(x, edge_index, W)
    permuted = student.gcn_layer(x[perm], new_label[edge_index], W)
    if hasattr(out, "shape") and hasattr(permuted, "shape") and out.shape == permuted.shape == (n, 3):
        assert_close(permuted, out[perm], what="output after relabelling the nodes")
    assert_close(out, dense_gcn(x, edge_index, W), what="output before relabelling")


@pytest.mark.points(2)
@pytest.mark.hint(
    "Build the layer from differentiable torch operations (index_add, not in-place writes into x), so gradients reach x and W."
)
@pytest.mark.parametrize("graph", ["undirected_path", "directed_multigraph"], ids=str)
def test_gcn_layer_gradients_match_the_dense_formula(student, graph):
    n, edge_index = GRAPHS[graph]
    x, W = randn(n, 4, seed=11), randn(4, 3, seed=12)
    got = student.run(_grads, x, edge_index, W)
    x_leaf, w_leaf = x.clone().requires_grad_(), W.clone().requires_grad_()
    out = dense_gcn(x_leaf, edge_index, w_leaf)
    out.backward(torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape))
    if not isinstance(got, list):
        fail(f"a list of two gradients was expected, got {type(got).__name__}")
    assert_close(got, [x_leaf.grad, w_leaf.grad], what="gradients of [x, W]")
