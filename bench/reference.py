#!/usr/bin/python3
"""PyTorch reference for the Imle benchmark suite (bench/Imle.Bench).

Written the way the public Python implementations do it (torch-imle, blackbox-backprop), competently:
- Sum-of-Gamma noise (Eq. 13) with one torch.distributions.Gamma draw per term, as torch-imle's
  SumOfGammaNoiseDistribution does;
- k-subset MAP by torch.topk + scatter;
- the I-MLE step as a torch.autograd.Function: forward MAP(theta + eps) (theta repeated S times, as torch-imle does),
  backward (z - MAP(theta - lambda * dy + eps)) / lambda with the same eps, averaged over the S samples;
- a heapq Dijkstra over 8-neighbour vertex-cost grids, looping over the batch (as the reference repositories'
  `dijkstra` over a numpy array). This version converts the array to Python lists once, stops when the target is
  settled and skips stale heap entries, so it is faster than the reference repositories' own, not a strawman.

Prints one JSON object on stdout: versions and, per case, the median/min/max milliseconds over the repetitions.
Usage: /usr/bin/python3 bench/reference.py [--quick]
"""
import heapq
import json
import math
import platform
import statistics
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)
torch.manual_seed(0)


# ----- noise -------------------------------------------------------------------------------------------------------
class SumOfGammaNoise:
    """eps = tau/kappa * (sum_{i=1..s} Gamma(1/kappa, rate i/kappa) - log s): one Gamma draw per term (Eq. 13)."""

    def __init__(self, kappa, nb_iterations=10, tau=1.0):
        self.kappa = kappa
        self.nb_iterations = nb_iterations
        self.tau = tau

    def sample(self, shape):
        samples = torch.zeros(shape)
        concentration = torch.tensor(1.0 / self.kappa)
        for i in range(1, self.nb_iterations + 1):
            rate = torch.tensor(i / self.kappa)
            gamma = torch.distributions.gamma.Gamma(concentration=concentration, rate=rate)
            samples = samples + gamma.sample(sample_shape=shape)
        return (samples - math.log(self.nb_iterations)) * (self.tau / self.kappa)


# ----- k-subset MAP and the I-MLE function ----------------------------------------------------------------------------
def topk_map(scores, k):
    _, idx = torch.topk(scores, k, dim=-1)
    return torch.zeros_like(scores).scatter_(-1, idx, 1.0)


class ImleKSubset(torch.autograd.Function):
    """I-MLE over k-subsets with a PID target theta' = theta - lambda * dy, gradient divided by lambda."""

    @staticmethod
    def forward(ctx, theta, k, lam, samples, noise):
        b, m = theta.shape
        eps = noise.sample((b * samples, m))
        theta_s = theta.repeat_interleave(samples, dim=0)  # [B*S, m], as torch-imle repeats the input
        z = topk_map(theta_s + eps, k)
        ctx.save_for_backward(theta_s, z, eps)
        ctx.k, ctx.lam, ctx.samples = k, lam, samples
        return z.view(b, samples, m).mean(dim=1)

    @staticmethod
    def backward(ctx, dy):
        theta_s, z, eps = ctx.saved_tensors
        b, m = dy.shape
        dy_s = dy.repeat_interleave(ctx.samples, dim=0)
        target = theta_s - ctx.lam * dy_s
        z_target = topk_map(target + eps, ctx.k)
        grad = ((z - z_target) / ctx.lam).view(b, ctx.samples, m).mean(dim=1)
        return grad, None, None, None, None


# ----- grid shortest path -------------------------------------------------------------------------------------------
NEIGHBOURS_8 = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)]


def dijkstra(matrix):
    """Vertex-cost shortest path from (0, 0) to (K-1, K-1) on an 8-neighbour grid; returns the 0/1 path matrix."""
    rows, cols = matrix.shape
    cost = matrix.tolist()
    inf = float("inf")
    dist = [[inf] * cols for _ in range(rows)]
    pred = {}
    done = [[False] * cols for _ in range(rows)]
    dist[0][0] = cost[0][0]
    heap = [(cost[0][0], 0, 0)]
    target = (rows - 1, cols - 1)
    while heap:
        d, x, y = heapq.heappop(heap)
        if done[x][y]:
            continue
        done[x][y] = True
        if (x, y) == target:
            break
        for dx, dy in NEIGHBOURS_8:
            nx, ny = x + dx, y + dy
            if 0 <= nx < rows and 0 <= ny < cols and not done[nx][ny]:
                nd = d + cost[nx][ny]
                if nd < dist[nx][ny]:
                    dist[nx][ny] = nd
                    pred[(nx, ny)] = (x, y)
                    heapq.heappush(heap, (nd, nx, ny))
    path = np.zeros((rows, cols), dtype=np.float32)
    node = target
    path[node] = 1.0
    while node != (0, 0):
        node = pred[node]
        path[node] = 1.0
    return path


def batch_shortest_paths(costs):
    """costs: torch tensor [B, K, K] -> path indicators [B, K, K], one heapq Dijkstra per map."""
    arr = costs.detach().cpu().numpy()
    return torch.from_numpy(np.stack([dijkstra(arr[i]) for i in range(arr.shape[0])]))


# ----- timing -------------------------------------------------------------------------------------------------------
def timed(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    xs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000.0)
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "reps": reps}


def main():
    quick = "--quick" in sys.argv
    cases = {}
    b, m = 1024, 1000

    noise = SumOfGammaNoise(kappa=32, nb_iterations=10)
    cases["sog-noise"] = timed(lambda: noise.sample((b, m)), 3 if quick else 7)

    k, lam = 32, 10.0
    r = torch.randn(b, m)
    for samples in (1, 10):
        theta = torch.randn(b, m, requires_grad=True)

        def step():
            y = ImleKSubset.apply(theta, k, lam, samples, noise)
            loss = (y * r).sum()
            loss.backward()

        reps = (3 if quick else 7) if samples == 1 else (2 if quick else 5)
        cases["imle-ksubset-S%d" % samples] = timed(step, reps)

    values = torch.tensor([0.8, 1.2, 5.3, 7.7, 9.2])
    for grid in (12, 30):
        costs = values[torch.randint(0, 5, (70, grid, grid))]
        reps = (3 if quick else 9) if grid == 12 else (2 if quick else 5)
        cases["grid-path-K%d" % grid] = timed(lambda: batch_shortest_paths(costs), reps)

    print(json.dumps({
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "cases": cases,
    }))


if __name__ == "__main__":
    main()
