/// Split decisions from the model's probabilities, as `harness.encoding.decode` makes them.
public enum TrendSplitDecoder {
    public static let defaultThreshold: Float = 0.5

    /// Indices `i < count - 1` with `probabilities[i] > threshold`, ascending. The last point
    /// cannot start a new segment, and padding positions are never read.
    public static func splits(_ probabilities: [Float], count: Int,
                              threshold: Float = defaultThreshold) throws -> [Int] {
        guard probabilities.count == TrendSplitEncoder.length else {
            throw TrendSplitError.predictionFailed(
                reason: "expected \(TrendSplitEncoder.length) probabilities, got \(probabilities.count)")
        }
        guard count >= 2 else { throw TrendSplitError.tooFewPoints(count: count) }
        guard count <= TrendSplitEncoder.length else {
            throw TrendSplitError.tooManyPoints(count: count, limit: TrendSplitEncoder.length)
        }
        return (0..<(count - 1)).filter { probabilities[$0] > threshold }
    }
}
