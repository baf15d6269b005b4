// The bench's C++ yardstick for the grid shortest path (case 3): a plain binary-heap Dijkstra (std::priority_queue with
// lazy deletion) over 8-neighbour vertex-cost grids, from (0, 0) to (K-1, K-1), the path written as a 0/1 matrix, on
// one thread. Maps are K×K with the five Warcraft terrain costs drawn uniformly (the bench's distribution, its own
// generator). Compiled by `dotnet fsi build.fsx bench` with `g++ -O3 -march=native`; run by Imle.Bench.
// Usage: dijkstra K BATCH REPS   prints "median min max" milliseconds per batch, and a checksum of the path costs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <random>
#include <utility>
#include <vector>

struct Solver {
    int k;
    std::vector<double> dist;
    std::vector<int> pred;
    std::vector<char> done;
    explicit Solver(int k) : k(k), dist(k * k), pred(k * k), done(k * k) {}

    // Returns the path cost and writes the path's cells into state (k*k entries).
    double solve(const double* cost, double* state) {
        const int n = k * k, target = n - 1;
        std::fill(dist.begin(), dist.end(), 1e300);
        std::fill(done.begin(), done.end(), 0);
        std::fill(pred.begin(), pred.end(), -1);
        using Item = std::pair<double, int>;
        std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
        dist[0] = cost[0];
        heap.emplace(dist[0], 0);
        while (!heap.empty()) {
            auto [d, u] = heap.top();
            heap.pop();
            if (done[u]) continue;
            done[u] = 1;
            if (u == target) break;
            const int r = u / k, c = u % k;
            for (int dr = -1; dr <= 1; ++dr) {
                const int r2 = r + dr;
                if (r2 < 0 || r2 >= k) continue;
                for (int dc = -1; dc <= 1; ++dc) {
                    const int c2 = c + dc;
                    if ((dr == 0 && dc == 0) || c2 < 0 || c2 >= k) continue;
                    const int w = r2 * k + c2;
                    if (done[w]) continue;
                    const double nd = d + cost[w];
                    if (nd < dist[w]) {
                        dist[w] = nd;
                        pred[w] = u;
                        heap.emplace(nd, w);
                    }
                }
            }
        }
        std::fill(state, state + n, 0.0);
        for (int x = target; x >= 0; x = pred[x]) state[x] = 1.0;
        return dist[target];
    }
};

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: dijkstra K BATCH REPS\n");
        return 2;
    }
    const int k = std::atoi(argv[1]), batch = std::atoi(argv[2]), reps = std::atoi(argv[3]);
    if (k < 1 || batch < 1 || reps < 1) {
        std::fprintf(stderr, "K, BATCH and REPS must be positive integers\n");
        return 2;
    }
    const double values[5] = {0.8, 1.2, 5.3, 7.7, 9.2};
    std::mt19937 rng(k);
    std::uniform_int_distribution<int> pick(0, 4);
    std::vector<double> costs((size_t)batch * k * k), states((size_t)batch * k * k);
    for (auto& c : costs) c = values[pick(rng)];
    Solver solver(k);
    double checksum = 0.0;
    auto once = [&] {
        double total = 0.0;
        for (int b = 0; b < batch; ++b)
            total += solver.solve(&costs[(size_t)b * k * k], &states[(size_t)b * k * k]);
        return total;
    };
    // Warm-up: at least 3 batches and 0.3 s.
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3 || std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300); ++i) checksum += once();
    std::vector<double> ms(reps);
    for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        checksum += once();
        ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(ms.begin(), ms.end());
    const double median = reps % 2 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    std::printf("%.6f %.6f %.6f %.3f\n", median, ms[0], ms[reps - 1], checksum);
    return 0;
}
