namespace Imle.Data

open TorchSharp
open Imle
open Imle.Torch

/// The layers the Warcraft networks share.
module internal WarcraftLayers =

    /// A shape-preserving 3×3 convolution (stride 1, padding 1, no bias) from `channels` to `channels`.
    let conv3x3 (channels: int64) =
        torch.nn.Conv2d(channels, channels, 3L, stride = 1L, padding = 1L, bias = false)

/// The cost network of the Warcraft shortest-path experiment (paper Table 2), a small CNN standing in for the
/// truncated ResNet18: a 4×4 stride-4 stem (image / 4, i.e. 2×2 positions per 8×8 cell), a 3×3 convolution and one
/// residual 3×3 block, all with batch norm, a 1×1 head to one channel, adaptive max-pooling to K×K and softplus (costs
/// must be positive for Dijkstra). Image [B, 3, 8K, 8K] → costs [B, K, K]. `k` ≥ 1 is the grid side, `width` ≥ 1 the
/// number of channels (32 in the experiments). Its parameters are drawn from TorchSharp's global generator when it is
/// constructed (seed it with `torch.random.manual_seed` first for a repeatable initialisation).
type WarcraftCostNet(k: int, width: int64) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("WarcraftCostNet")
    do Validate.intAtLeast "k" 1 k

    do
        if width < 1L then
            raise (System.ArgumentOutOfRangeException("width", width, sprintf "width must be >= 1; got %d." width))

    let conv1 = torch.nn.Conv2d(3L, width, 4L, stride = 4L, padding = 0L, bias = false)
    let bn1 = torch.nn.BatchNorm2d(width)

    let conv2 = WarcraftLayers.conv3x3 width
    let bn2 = torch.nn.BatchNorm2d(width)
    let conv3 = WarcraftLayers.conv3x3 width
    let bn3 = torch.nn.BatchNorm2d(width)
    let head = torch.nn.Conv2d(width, 1L, 1L)
    do this.RegisterComponents()

    /// Positive vertex costs [B, K, K] of images [B, 3, 8K, 8K] (pixel values in [0, 1]).
    override _.forward(x: torch.Tensor) : torch.Tensor =
        if isNull x then
            nullArg "x"

        if x.dim () <> 4L || x.shape.[1] <> 3L then
            invalidArg "x" (sprintf "x must be images [B, 3, 8K, 8K]; got shape %s." (Validate.shapeText x.shape))

        let a1 = torch.nn.functional.relu (bn1.forward (conv1.forward x))
        let a2 = torch.nn.functional.relu (bn2.forward (conv2.forward a1))
        let a3 = torch.nn.functional.relu (Safe.add (bn3.forward (conv3.forward a2)) a2)
        let h = head.forward a3
        let pooled = torch.nn.functional.adaptive_max_pool2d (h, [| int64 k; int64 k |])
        // softplus(h) = log(1 + eʰ) = logaddexp(h, 0): positive costs, with no temporary Scalar (see Safe).
        use logits = pooled.squeeze (1L)
        use zero = torch.zeros_like (logits)
        torch.logaddexp (logits, zero)

    /// The grid side K.
    member _.K = k
