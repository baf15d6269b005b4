namespace Imle.Data

open TorchSharp
open Imle
open Imle.Torch

/// ResNet's basic block (He et al. 2016, torchvision's `BasicBlock` with stride 1 and no downsampling): 3×3
/// convolution, batch norm, ReLU, 3×3 convolution, batch norm, plus the input, ReLU. `channels` in and out.
type ResNetBasicBlock(channels: int64) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("ResNetBasicBlock")

    do
        if channels < 1L then
            raise (
                System.ArgumentOutOfRangeException(
                    "channels",
                    channels,
                    sprintf "channels must be >= 1; got %d." channels
                )
            )

    let conv1 = WarcraftLayers.conv3x3 channels
    let bn1 = torch.nn.BatchNorm2d(channels)
    let conv2 = WarcraftLayers.conv3x3 channels
    let bn2 = torch.nn.BatchNorm2d(channels)
    do this.RegisterComponents()

    /// relu(bn2(conv2(relu(bn1(conv1 x)))) + x) for x [B, channels, H, W].
    override _.forward(x: torch.Tensor) : torch.Tensor =
        let a = torch.nn.functional.relu (bn1.forward (conv1.forward x))
        torch.nn.functional.relu (Safe.add (bn2.forward (conv2.forward a)) x)

/// The network of the paper's Warcraft experiment (tf-imle's and blackbox-backprop's `CombResnet18`): the first block
/// of a ResNet18 — conv1 (7×7, stride 2, 64 channels), batch norm, ReLU, 3×3 max-pool with stride 2, layer1 (two basic
/// blocks of 64 channels) — then an adaptive max-pool to K×K and the mean over the 64 channels; the reference takes
/// the absolute value of that output as the costs (`torch.abs(output)` in tf-imle's `DijkstraMAP.forward_pass`), and so
/// does this network. Initialisation as torchvision's ResNet: Kaiming-normal (fan-out, ReLU) for the convolutions,
/// batch norm γ = 1, β = 0; no pretrained weights (the reference uses `pretrained=False`). Written here layer by layer
/// so that Imle does not depend on TorchVision for .NET 0.107 (its SkiaSharp 2.88.9 dependency needs native asset
/// packages for each platform). Image [B, 3, 8K, 8K] → costs [B, K, K]; draws its initial weights from
/// TorchSharp's global generator (seed it with `torch.random.manual_seed` first).
type WarcraftResNet(k: int) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("WarcraftResNet")
    do Validate.intAtLeast "k" 1 k

    let conv1 = torch.nn.Conv2d(3L, 64L, 7L, stride = 2L, padding = 3L, bias = false)
    let bn1 = torch.nn.BatchNorm2d(64L)
    let maxpool = torch.nn.MaxPool2d(3L, stride = 2L, padding = 1L)
    let block1 = new ResNetBasicBlock(64L)
    let block2 = new ResNetBasicBlock(64L)
    do this.RegisterComponents()

    do
        use _ = torch.no_grad ()

        for (name, p) in this.named_parameters () do
            // Convolution weights are 4-d; batch-norm weights and biases keep their defaults (1 and 0).
            if p.dim () = 4L then
                torch.nn.init.kaiming_normal_ (
                    p,
                    mode = torch.nn.init.FanInOut.FanOut,
                    nonlinearity = torch.nn.init.NonlinearityType.ReLU
                )
                |> ignore
            else
                ignore name

    /// Non-negative vertex costs [B, K, K] of images [B, 3, 8K, 8K].
    override _.forward(x: torch.Tensor) : torch.Tensor =
        if isNull x then
            nullArg "x"

        if x.dim () <> 4L || x.shape.[1] <> 3L then
            invalidArg "x" (sprintf "x must be images [B, 3, 8K, 8K]; got shape %s." (Validate.shapeText x.shape))

        let a = maxpool.forward (torch.nn.functional.relu (bn1.forward (conv1.forward x)))
        let b = block2.forward (block1.forward a)
        let pooled = torch.nn.functional.adaptive_max_pool2d (b, [| int64 k; int64 k |])
        use mean = pooled.mean ([| 1L |])
        mean.abs ()

    /// The grid side K.
    member _.K = k
