namespace Imle

open System

/// Scalar samplers over an explicit, seedable `System.Random`. No global generator is used anywhere in Imle:
/// the same seed gives the same bits.
[<RequireQualifiedAccess>]
module Sampling =

    /// A uniform draw in the open interval (0, 1) (never exactly 0, so logarithms stay finite).
    let uniformOpen (rng: Random) : float =
        let mutable u = rng.NextDouble()

        while u <= 0.0 do
            u <- rng.NextDouble()

        u

    /// A standard normal draw (Marsaglia's polar method, one value per call).
    let standardNormal (rng: Random) : float =
        let mutable s = 2.0
        let mutable x = 0.0

        while s >= 1.0 || s = 0.0 do
            x <- 2.0 * rng.NextDouble() - 1.0
            let y = 2.0 * rng.NextDouble() - 1.0
            s <- x * x + y * y

            if s < 1.0 && s > 0.0 then
                x <- x * sqrt (-2.0 * log s / s)

        x

    /// A Gumbel(location 0, scale `scale`) draw: −scale·log(−log U).
    let gumbel (scale: float) (rng: Random) : float = -scale * log (-log(uniformOpen rng))

    /// A Gamma draw with the given shape (k > 0) and scale (θ > 0), mean shape·scale.
    /// Marsaglia and Tsang (2000); shapes below 1 use the boost Gamma(k) = Gamma(k + 1)·U^(1/k).
    let rec gamma (shape: float) (scale: float) (rng: Random) : float =
        if shape < 1.0 then
            let g = gamma (shape + 1.0) 1.0 rng
            // Work in log space so that tiny shapes (U^(1/k) underflows) stay exact.
            let logU = log (uniformOpen rng)
            scale * exp (log g + logU / shape)
        else
            let d = shape - 1.0 / 3.0
            let c = 1.0 / sqrt (9.0 * d)
            let mutable result = nan

            while Double.IsNaN result do
                let x = standardNormal rng
                let v0 = 1.0 + c * x

                if v0 > 0.0 then
                    let v = v0 * v0 * v0
                    let u = uniformOpen rng

                    if u < 1.0 - 0.0331 * x * x * x * x || log u < 0.5 * x * x + d * (1.0 - v + log v) then
                        result <- d * v

            scale * result
