// Learn to pick the 3 items (of 10) that a hidden linear teacher would pick, through an I-MLE k-subset layer.
using System;
using Imle.CSharp;
using TorchSharp;
using static TorchSharp.torch;

const int features = 8, m = 10, k = 3, batch = 256;
Allocator.KeepFreedMemory(); // on glibc: reuse freed tensor memory instead of page-faulting it in every step
torch.manual_seed(0);
var teacher = torch.randn(features, m);
var x = torch.randn(batch, features);
var y = Discrete.Solve(Problems.KSubset(m, k), x.matmul(teacher)); // the target 3-subsets

// A linear scorer followed by a discrete layer: scores [B, m] -> 3-hot states [B, m].
var imle = ImleLayers.KSubset(m, k, lambda: 10.0, samples: 5, seed: 42);
var model = nn.Sequential(nn.Linear(features, m), imle);
var optimizer = optim.Adam(model.parameters(), lr: 0.05);

for (int step = 1; step <= 200; step++)
{
    using var scope = torch.NewDisposeScope();
    model.train();
    optimizer.zero_grad();
    var loss = Losses.Hamming(model.forward(x), y);
    Training.Backward(loss); // loss.backward(), then surfaces any error from the discrete backward pass
    optimizer.step();
    if (step % 40 == 0)
    {
        model.eval(); // eval mode: plain top-k, no noise
        using var noGrad = torch.no_grad();
        var z = model.forward(x);
        var accuracy = (z * y).sum().ToDouble() / (batch * k); // fraction of the right items picked
        Console.WriteLine($"step {step,3}  loss {loss.ToDouble():F3}  accuracy {accuracy:P1}");
    }
}
