namespace Imle.Torch

open TorchSharp

/// A TorchSharp tensor.
type Tensor = torch.Tensor

/// Tensor arithmetic with numbers that cannot crash under garbage collection.
///
/// TorchSharp's `Scalar` owns a native object and has a finaliser. Operations that take a number — `t * 2.0`,
/// `t / 3.0`, `1.0 - t`, `torch.full(shape, x)` and even `a + b` (an implicit `alpha = 1`) — turn it into a temporary
/// Scalar and hand its native handle to libtorch without keeping the managed object alive. A garbage collection
/// started by another thread during that call may finalise the temporary, free its native object and let the memory be
/// reused while libtorch reads it: "Unknown scalar type", "alpha must not be a floating point number", wrong values or
/// a segmentation fault, at random after hours. TorchSharp 0.107 has no fix.
///
/// Every function here keeps its Scalars alive until the operation has returned (`use`, disposed afterwards) or uses a
/// process-lifetime constant. Imle's own code uses only these (a test checks the compiled IL); use them in training
/// loops that run beside other threads.
[<RequireQualifiedAccess>]
module Safe =

    // Process-lifetime constant: a static field is always reachable, so it is never finalised.
    let private one = (1L).ToScalar()

    /// Returns the tensor, or raises ArgumentNullException naming the parameter.
    let private notNull (name: string) (t: Tensor) = if isNull t then nullArg name else t

    /// a + b (TorchSharp's `a + b` passes a temporary alpha = 1).
    let add (a: Tensor) (b: Tensor) : Tensor = (notNull "a" a).add(notNull "b" b, one)

    /// a += b in place; returns a.
    let addInPlace (a: Tensor) (b: Tensor) : Tensor =
        (notNull "a" a).add_(notNull "b" b, one)

    /// a + x for a number x.
    let addScalar (a: Tensor) (x: float) : Tensor =
        use s = x.ToScalar()
        (notNull "a" a).add(s, one)

    /// a · x for a number x.
    let mulScalar (a: Tensor) (x: float) : Tensor =
        use s = x.ToScalar()
        (notNull "a" a).mul(s)

    /// a / x for a number x.
    let divScalar (a: Tensor) (x: float) : Tensor =
        use s = x.ToScalar()
        (notNull "a" a).div(s)

    /// x − a for a number x.
    let subtractFrom (x: float) (a: Tensor) : Tensor =
        use s = x.ToScalar()
        use negated = (notNull "a" a).neg()
        negated.add (s, one)

    /// max(a, x) elementwise for a number x.
    let clampMin (a: Tensor) (x: float) : Tensor =
        use s = x.ToScalar()
        (notNull "a" a).clamp_min(s)

    /// A tensor of the given shape filled with x.
    let full (shape: int64[]) (x: float) (dtype: torch.ScalarType) (device: torch.Device) : Tensor =
        if isNull shape then
            nullArg "shape"

        use s = x.ToScalar()
        torch.full (shape, s, dtype = dtype, device = device)
