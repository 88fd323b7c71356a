/// Encoding v1: trendline points -> Float32 [2, 100], bit for bit as `trendsplit/encoding.py`.
///
/// Arithmetic is binary64 in the contract's order, then one rounding to Float. Times stay
/// Double until then: Float32 holds epoch seconds only to 128 s, so the seed app's
/// Float32 maths moved readings by up to 64 s before normalising.
public enum TrendSplitEncoder {
    public static let version = 1
    /// Padded length: the model sees exactly this many positions.
    public static let length = 100

    /// Encode parallel x (days) and y (seconds) arrays. The result is channel-major:
    /// `[x0 ... x99, y0 ... y99]`, ready to copy into an MLMultiArray of shape [1, 2, 100].
    public static func encode(x: [Double], y: [Double]) throws -> [Float] {
        guard x.count == y.count else {
            throw TrendSplitError.badPoint(index: min(x.count, y.count),
                                           reason: "\(x.count) x values but \(y.count) y values")
        }
        let n = x.count
        guard n >= 2 else { throw TrendSplitError.tooFewPoints(count: n) }
        guard n <= length else { throw TrendSplitError.tooManyPoints(count: n, limit: length) }
        // Fold -0.0 to +0.0 so no signed zero reaches the arithmetic.
        let xs = x.map { $0 + 0.0 }
        let ys = y.map { $0 + 0.0 }
        for i in 0..<n {
            if !xs[i].isFinite { throw TrendSplitError.nonFinite(index: i, coordinate: "x") }
            if !ys[i].isFinite { throw TrendSplitError.nonFinite(index: i, coordinate: "y") }
        }
        for i in 1..<n where xs[i] < xs[i - 1] {
            throw TrendSplitError.unsortedX(index: i)
        }
        var minX = xs[0], maxX = xs[0], minY = ys[0], maxY = ys[0]
        for i in 1..<n {
            if xs[i] < minX { minX = xs[i] }
            if xs[i] > maxX { maxX = xs[i] }
            if ys[i] < minY { minY = ys[i] }
            if ys[i] > maxY { maxY = ys[i] }
        }
        guard maxX != minX else { throw TrendSplitError.zeroXRange(x: minX) }

        let r = maxX - minX
        let s = ((maxY - minY) / r) / 2
        var out = [Float](repeating: 0, count: 2 * length)
        for i in 0..<n {
            out[i] = Float((xs[i] - minX) / r - 0.5)
            out[length + i] = Float((ys[i] - minY) / r - s)
        }
        for channel in 0..<2 {
            for i in 0..<n where !out[channel * length + i].isFinite {
                throw TrendSplitError.encodingOverflow(channel: channel, index: i)
            }
        }
        return out
    }

    /// Encode `(x, y)` pairs.
    public static func encode(_ points: [(Double, Double)]) throws -> [Float] {
        try encode(x: points.map { $0.0 }, y: points.map { $0.1 })
    }

    /// Encode points as they arrive from JavaScript: each must be exactly two numbers.
    public static func encode(points: [[Double]]) throws -> [Float] {
        for (i, point) in points.enumerated() where point.count != 2 {
            throw TrendSplitError.badPoint(index: i, reason: "it has \(point.count) values")
        }
        return try encode(x: points.map { $0[0] }, y: points.map { $0[1] })
    }
}
