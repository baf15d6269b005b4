/// Pictures of Warcraft-style maps (`Imle.Data.WarcraftMaps`) for the experiment's report: the map as PNG with paths
/// drawn over it (SkiaSharp, which the examples already have through ScottPlot).
module Imle.Examples.Experiments.WarcraftPictures

open System.IO
open Imle.Data.WarcraftMaps
open SkiaSharp

/// Writes the map as PNG (scaled up `scale` times) with paths drawn over it: (label, colour, path indicator) each,
/// and a legend strip below.
let savePng (file: string) (map: WarcraftMap) (scale: int) (paths: (string * SKColor * float[]) list) =
    let side = imageSide map.K
    let plane = side * side
    let width = side * scale
    let legend = 22 * max 1 paths.Length + 8
    use bitmap = new SKBitmap(width, width + legend)
    use canvas = new SKCanvas(bitmap)
    canvas.Clear(SKColors.White)
    use pixel = new SKPaint(IsAntialias = false)

    for y in 0 .. side - 1 do
        for x in 0 .. side - 1 do
            let o = y * side + x
            pixel.Color <- SKColor(map.Image.[o], map.Image.[plane + o], map.Image.[2 * plane + o])
            canvas.DrawRect(float32 (x * scale), float32 (y * scale), float32 scale, float32 scale, pixel)

    let cell = float32 (TilePixels * scale)
    use font = new SKFont(SKTypeface.Default, 15.0f)

    paths
    |> List.iteri (fun i (label, colour, indicator) ->
        let cells = orderedPath map.K indicator
        let shift = float32 (i - (paths.Length - 1) / 2) * 3.0f

        let centre (r, c) =
            SKPoint(float32 c * cell + cell / 2.0f + shift, float32 r * cell + cell / 2.0f + shift)

        use line =
            new SKPaint(Color = colour, StrokeWidth = 3.0f, IsAntialias = true, Style = SKPaintStyle.Stroke)

        use dot = new SKPaint(Color = colour, IsAntialias = true, Style = SKPaintStyle.Fill)

        for j in 1 .. cells.Length - 1 do
            canvas.DrawLine(centre cells.[j - 1], centre cells.[j], line)

        for j in 0 .. indicator.Length - 1 do
            if indicator.[j] > 0.5 then
                let p = centre (j / map.K, j % map.K)
                canvas.DrawCircle(p, 4.0f, dot)

        let y = float32 (width + 20 + 22 * i)
        canvas.DrawRect(8.0f, y - 12.0f, 24.0f, 12.0f, dot)
        use text = new SKPaint(Color = SKColors.Black, IsAntialias = true)
        canvas.DrawText(label, 40.0f, y, font, text))

    use image = SKImage.FromBitmap bitmap
    use data = image.Encode(SKEncodedImageFormat.Png, 100)
    File.WriteAllBytes(file, data.ToArray())
