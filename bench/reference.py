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

- the Warcraft training step (batch 70, K = 12): CombResnet18 (ResNet18's first block), I-MLE with Sum-of-Gamma noise
  or blackbox differentiation around the heapq Dijkstra, Hamming loss, Adam (as tf-imle and blackbox-backprop).

Prints one JSON object on stdout: versions and, per case, the median/min/max milliseconds over the repetitions.
With --serve it runs one repetition of a named case per line of stdin instead (the bench interleaves them with its
own repetitions, so that drift of a shared machine hits both sides alike).
Usage: /usr/bin/python3 bench/reference.py [--quick | --serve]
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


# ----- the Warcraft training step -------------------------------------------------------------------------------------
class BasicBlock(torch.nn.Module):
    """torchvision's BasicBlock with stride 1 and no downsampling."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(a)) + x)


class CombResnet18(torch.nn.Module):
    """blackbox-backprop's / tf-imle's Warcraft network: ResNet18's conv1, bn1, relu, maxpool and layer1, an adaptive
    max-pool to K x K and the mean over the 64 channels; the costs are its absolute value."""

    def __init__(self, k):
        super().__init__()
        self.k = k
        self.conv1 = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        self.layer1 = torch.nn.Sequential(BasicBlock(64), BasicBlock(64))
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = torch.nn.functional.adaptive_max_pool2d(x, (self.k, self.k))
        return x.mean(dim=1).abs()


PARTS = {}


def part(name, t0):
    PARTS[name] = PARTS.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0


def solve_grid(costs, key="solver"):
    t0 = time.perf_counter()
    z = batch_shortest_paths(costs.clamp(min=0.0))
    part(key, t0)
    return z


class ImleGrid(torch.autograd.Function):
    """I-MLE over grid shortest paths (a minimisation): forward z = MAP(c + eps), S samples, mean output; backward the
    PID target c' = c + lambda * dy with the same eps, gradient (z' - z) / lambda."""

    @staticmethod
    def forward(ctx, costs, lam, samples, noise):
        b, k, _ = costs.shape
        t0 = time.perf_counter()
        eps = noise.sample((b * samples, k, k))
        part("noise", t0)
        c_s = costs.repeat_interleave(samples, dim=0)
        z = solve_grid(c_s + eps)
        ctx.save_for_backward(c_s, z, eps)
        ctx.lam, ctx.samples = lam, samples
        return z.view(b, samples, k, k).mean(dim=1)

    @staticmethod
    def backward(ctx, dy):
        c_s, z, eps = ctx.saved_tensors
        b, k, _ = dy.shape
        target = c_s + ctx.lam * dy.repeat_interleave(ctx.samples, dim=0)
        z_target = solve_grid(target + eps, "solver-bwd")
        return ((z_target - z) / ctx.lam).view(b, ctx.samples, k, k).mean(dim=1), None, None, None


class BlackboxGrid(torch.autograd.Function):
    """Blackbox differentiation (Vlastelica et al.): forward z = MAP(c), backward (z(c + lambda * dy) - z) / lambda."""

    @staticmethod
    def forward(ctx, costs, lam):
        z = solve_grid(costs)
        ctx.save_for_backward(costs, z)
        ctx.lam = lam
        return z

    @staticmethod
    def backward(ctx, dy):
        costs, z = ctx.saved_tensors
        z_target = solve_grid(costs + ctx.lam * dy, "solver-bwd")
        return (z_target - z) / ctx.lam, None


def warcraft_case(method, samples, k=12, b=70):
    """One training step: network forward, the discrete layer, Hamming loss, backward, Adam. Returns a function that
    runs one step and leaves the split in PARTS (network = forward + backward without the layer's own work)."""
    torch.manual_seed(4)
    model = CombResnet18(k)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    images = torch.rand(b, 3, 8 * k, 8 * k)
    values = torch.tensor([0.8, 1.2, 5.3, 7.7, 9.2])
    paths = batch_shortest_paths(values[torch.randint(0, 5, (b, k, k))])
    noise = SumOfGammaNoise(kappa=int(1.3 * k), nb_iterations=10)

    def step():
        PARTS.clear()
        t_all = time.perf_counter()
        optimizer.zero_grad()
        t0 = time.perf_counter()
        costs = model(images)
        part("forward", t0)
        if method == "imle":
            z = ImleGrid.apply(costs, 10.0, samples, noise)
        else:
            z = BlackboxGrid.apply(costs, 10.0)
        loss = (z * (1.0 - paths) + (1.0 - z) * paths).sum(dim=(1, 2)).mean()  # Imle's Losses.hamming
        t0 = time.perf_counter()
        loss.backward()
        part("backward", t0)
        t0 = time.perf_counter()
        optimizer.step()
        part("optimizer", t0)
        total = (time.perf_counter() - t_all) * 1000.0
        return total

    return step


def serve():
    """Serve mode for interleaved timing: reads a case name per line on stdin, runs it once and prints one JSON line
    {"ms": ..., "parts": {...}}; the first call of a case builds it. Ends at EOF."""
    builders = {
        "sog-noise": lambda: (lambda noise: (lambda: noise.sample((1024, 1000))))(SumOfGammaNoise(32, 10)),
    }
    for samples in (1, 10):
        builders["imle-ksubset-S%d" % samples] = (lambda s: lambda: ksubset_step(s))(samples)
        builders["warcraft-imle-S%d" % samples] = (lambda s: lambda: warcraft_case("imle", s))(samples)
    builders["warcraft-blackbox"] = lambda: warcraft_case("blackbox", 1)
    built = {}
    print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        if name not in built:
            built[name] = builders[name]()
        PARTS.clear()
        t0 = time.perf_counter()
        inner = built[name]()
        ms = (time.perf_counter() - t0) * 1000.0
        if isinstance(inner, float):
            ms = inner
        print(json.dumps({"ms": ms, "parts": dict(PARTS)}), flush=True)


def ksubset_step(samples, b=1024, m=1000, k=32, lam=10.0):
    noise = SumOfGammaNoise(kappa=32, nb_iterations=10)
    r = torch.randn(b, m)
    theta = torch.randn(b, m, requires_grad=True)

    def step():
        y = ImleKSubset.apply(theta, k, lam, samples, noise)
        (y * r).sum().backward()

    return step


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
    if "--serve" in sys.argv:
        serve()
    else:
        main()
