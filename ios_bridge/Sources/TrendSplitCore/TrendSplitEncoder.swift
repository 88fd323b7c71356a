/// Encodings v1, v2, v3 and v4: trendline points -> Float32 [C, 100], bit for bit as `trendsplit/encoding.py`.
///
/// Arithmetic is binary64 in the contract's order, then one rounding to Float. Times stay
/// Double until then: Float32 holds epoch seconds only to 128 s, so the seed app's
/// Float32 maths moved readings by up to 64 s before normalising. v1 ([2, 100]) and v2 are
/// frozen: apps ship them; v2 ([4, 100]) adds the step to the next reading in seconds and in
/// days; v3 ([7, 100]) adds the step in units of the log's noise scale, the scale, and each
/// reading's residual from the line through its neighbours in units of the scale; v4 ([8, 100]) adds
/// the log-odds of a break after each reading under the generator's own model (`BreakPosterior`).
public enum TrendSplitEncoder {
    /// The version a caller gets when it names none: v1, what shipped apps send.
    public static let version = 1
    /// Every version this encoder speaks.
    public static let versions = [1, 2, 3, 4]
    /// Padded length: the model sees exactly this many positions.
    public static let length = 100
    /// v2's step channels: clamp limits (exact in Float and Float16) and the flush-to-zero
    /// threshold, Float16's smallest normal number, so each step is a normal Float16 or zero.
    public static let dyLimit = 100.0
    public static let dxLimit = 100.0
    public static let stepFlush = 0x1p-14
    /// v3's noise scale (seconds): clamped to [nuMin, nuMax]; nuNone when no reading has two
    /// neighbours to be judged against. The steps and residuals in noise scales clamp to +-dynLimit.
    public static let nuMin = 0x1p-3
    public static let nuMax = 0x1p5
    public static let nuNone = 1.0
    public static let dynLimit = 100.0

    /// Channels of `version`'s encoding (2, 4, 7 or 8), or `unsupportedVersion`.
    public static func channels(version: Int) throws -> Int {
        switch version {
        case 1: return 2
        case 2: return 4
        case 3: return 7
        case 4: return 8
        default: throw TrendSplitError.unsupportedVersion(version: version)
        }
    }

    /// v2's step rule on binary64: clamp to +-limit, then |d| < 2^-14 becomes +0.0.
    @inline(__always)
    static func step(_ d: Double, limit: Double) -> Double {
        let clamped = d < -limit ? -limit : (d > limit ? limit : d)
        return abs(clamped) < stepFlush ? 0 : clamped
    }

    /// v3's residual of each reading from the line through its neighbours, nil where the reading is
    /// not judged: judged are 0 < i < n - 1 with x[i+1] > x[i-1], whose residual is, in this order,
    ///     w = (x[i] - x[i-1]) / (x[i+1] - x[i-1]);  e = (y[i] - y[i-1]) - (y[i+1] - y[i-1]) * w
    static func residuals(_ xs: [Double], _ ys: [Double]) -> [Double?] {
        var out = [Double?](repeating: nil, count: xs.count)
        guard xs.count >= 3 else { return out }
        for i in 1..<(xs.count - 1) {
            let span = xs[i + 1] - xs[i - 1]
            guard span > 0 else { continue }
            let w = (xs[i] - xs[i - 1]) / span
            let product = (ys[i + 1] - ys[i - 1]) * w  // its own statement: rounded before the subtraction
            out[i] = (ys[i] - ys[i - 1]) - product
        }
        return out
    }

    /// v3's noise scale: the lower median of the judged |e| (element (m - 1) / 2 of the m sorted
    /// values, a NaN counted as +infinity), clamped to [nuMin, nuMax]; nuNone when m = 0.
    static func noiseScale(_ residuals: [Double?]) -> Double {
        var magnitudes = residuals.compactMap { $0 }.map { abs($0).isNaN ? Double.infinity : abs($0) }
        guard !magnitudes.isEmpty else { return nuNone }
        magnitudes.sort()
        return min(max(magnitudes[(magnitudes.count - 1) / 2], nuMin), nuMax)
    }

    /// The contract's first rule, `too_many_points`, from the number of points alone: checked before
    /// any point is read or converted, so a huge input costs nothing to refuse (as in Python).
    public static func checkCount(_ count: Int) throws {
        guard count <= length else { throw TrendSplitError.tooManyPoints(count: count, limit: length) }
    }

    /// Encode parallel x (days) and y (seconds) arrays. The result is channel-major:
    /// v1 `[x0 ... x99, y0 ... y99]`, ready to copy into an MLMultiArray of shape [1, 2, 100];
    /// v2 then `dy0 ... dy99, dx0 ... dx99` for shape [1, 4, 100]; v3 then `dyn0 ... dyn99,
    /// nu0 ... nu99, res0 ... res99` for shape [1, 7, 100]; v4 then `post0 ... post99` for [1, 8, 100].
    public static func encode(x: [Double], y: [Double], version: Int = version) throws -> [Float] {
        let width = try channels(version: version)
        try checkCount(max(x.count, y.count))  // first, as in Python: before any point is read
        guard x.count == y.count else {
            throw TrendSplitError.badPoint(index: min(x.count, y.count),
                                           reason: "\(x.count) x values but \(y.count) y values")
        }
        let n = x.count
        guard n >= 2 else { throw TrendSplitError.tooFewPoints(count: n) }
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
        var out = [Float](repeating: 0, count: width * length)
        for i in 0..<n {
            out[i] = Float((xs[i] - minX) / r - 0.5)
            out[length + i] = Float((ys[i] - minY) / r - s)
        }
        for channel in 0..<2 {
            for i in 0..<n where !out[channel * length + i].isFinite {
                throw TrendSplitError.encodingOverflow(channel: channel, index: i)
            }
        }
        if version >= 2 {  // positions 0..n-2; the last reading and the padding stay +0.0
            for i in 0..<(n - 1) {
                out[2 * length + i] = Float(step(ys[i + 1] - ys[i], limit: dyLimit))
                out[3 * length + i] = Float(step(xs[i + 1] - xs[i], limit: dxLimit))
            }
        }
        if version >= 3 {  // the step in noise scales at 0..n-2; the scale and the residuals at every real position
            let res = residuals(xs, ys)
            let nu = noiseScale(res)
            for i in 0..<(n - 1) {
                out[4 * length + i] = Float(step((ys[i + 1] - ys[i]) / nu, limit: dynLimit))
            }
            for i in 0..<n {
                out[5 * length + i] = Float(nu)
                if let e = res[i] { out[6 * length + i] = Float(step(e / nu, limit: dynLimit)) }
            }
        }
        if version == 4 {  // the log-odds of a break after each reading, at 0..n-2
            let odds = BreakPosterior.logOdds(x: xs, y: ys)
            for i in 0..<(n - 1) { out[7 * length + i] = Float(odds[i]) }
        }
        return out
    }

    /// Encode `(x, y)` pairs.
    public static func encode(_ points: [(Double, Double)], version: Int = version) throws -> [Float] {
        _ = try channels(version: version)
        try checkCount(points.count)
        return try encode(x: points.map { $0.0 }, y: points.map { $0.1 }, version: version)
    }

    /// Encode points as they arrive from JavaScript: each must be exactly two numbers.
    public static func encode(points: [[Double]], version: Int = version) throws -> [Float] {
        _ = try channels(version: version)
        try checkCount(points.count)
        for (i, point) in points.enumerated() where point.count != 2 {
            throw TrendSplitError.badPoint(index: i, reason: "it has \(point.count) values")
        }
        return try encode(x: points.map { $0[0] }, y: points.map { $0[1] }, version: version)
    }
}
