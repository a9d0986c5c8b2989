"""★ A graph convolution layer (Kipf & Welling's GCN) by message passing.

Each node updates its features with the average-like sum of its neighbours' (and its own)
features, then applies a shared linear map. With A the adjacency matrix, I the identity (every
node also listens to itself) and D the diagonal degree matrix of A + I:

    out = D^{-1/2} (A + I) D^{-1/2} X W

The symmetric normalization weights the message from node j to node i by 1/√(deg_i · deg_j),
so high-degree nodes neither dominate nor get drowned out.

The graph is given as edge_index (2, E), a LongTensor of edges src -> dst (row 0 the sources,
row 1 the targets): edge j -> i sends node j's features to node i, so A[i, j] counts the edges
j -> i. For an undirected graph, list each edge in both directions. deg_i = 1 + Σ_j A[i, j]
(the edges into i, plus the self-loop). Duplicate edges count as many times as they are listed
(A holds counts, as a scatter-add gives); an edge i -> i adds to the self-loop. A node with no
edges keeps x_i W.

Build it with scatter/index_add (no dense N×N matrix needed), so that it scales to large sparse
graphs. Relabelling the nodes permutes the rows of the output the same way (equivariance).
"""

from __future__ import annotations

import torch


def gcn_layer(x: torch.Tensor, edge_index: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """D^{-1/2}(A + I)D^{-1/2} X W. x: (N, F_in), edge_index: (2, E) long, W: (F_in, F_out) -> (N, F_out)."""
    # TODO: degrees (edges into each node, plus 1), each message's weight 1/√(deg_src·deg_dst).
    # TODO: sum the weighted messages into their target nodes, add the self-loop term, apply W.
    ### BEGIN SOLUTION
    n = x.shape[0]
    src, dst = edge_index[0], edge_index[1]
    deg = torch.ones(n, dtype=x.dtype).index_add_(0, dst, torch.ones(dst.shape[0], dtype=x.dtype))
    inv_sqrt = deg.rsqrt()
    h = x @ W
    norm = (inv_sqrt[src] * inv_sqrt[dst]).unsqueeze(-1)
    out = (inv_sqrt * inv_sqrt).unsqueeze(-1) * h
    return out.index_add(0, dst, norm * h[src])
    ### END SOLUTION
