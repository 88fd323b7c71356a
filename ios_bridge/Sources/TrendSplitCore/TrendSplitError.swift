/// Every way the trendsplit pipeline refuses an input or fails, one case per rule.
///
/// `code` is the same string the Python kit uses (`trendsplit/errors.py`), so an app, its
/// JavaScript and the harness name a failure identically.
public enum TrendSplitError: Error, Equatable, Sendable {
    /// A point is not exactly two numbers.
    case badPoint(index: Int, reason: String)
    /// Fewer than 2 points: no trendline.
    case tooFewPoints(count: Int)
    /// More points than the model's padded length: never truncated, never written out of bounds.
    case tooManyPoints(count: Int, limit: Int)
    /// A NaN or an infinity; `coordinate` is "x" or "y".
    case nonFinite(index: Int, coordinate: String)
    /// x decreases from point `index - 1` to point `index`.
    case unsortedX(index: Int)
    /// Every point has the same x: the range to divide by is zero.
    case zeroXRange(x: Double)
    /// An encoded value is not finite in Float32 (`channel` 0 is x, 1 is y).
    case encodingOverflow(channel: Int, index: Int)
    /// An encoding version this code does not define (a caller's mistake, not an input rule).
    case unsupportedVersion(version: Int)
    /// A model trained on encoding `model` was handed inputs of encoding `input`.
    case versionMismatch(model: Int, input: Int)
    /// The CoreML model could not be loaded (missing, not compiled, incompatible).
    case modelUnavailable(reason: String)
    /// CoreML failed while predicting.
    case predictionFailed(reason: String)

    /// The encoding rules' codes, as Python's `ERROR_CODES`: the contract table's order up to v1. A
    /// code's position is its byte on the wire, so the order never changes; the encoder checks
    /// `too_many_points` first (from the count alone), then `bad_point`, then the rest in this order.
    public static let encodingCodes = [
        "bad_point", "too_few_points", "too_many_points", "non_finite", "unsorted_x",
        "zero_x_range", "encoding_overflow",
    ]

    public var code: String {
        switch self {
        case .badPoint: return "bad_point"
        case .tooFewPoints: return "too_few_points"
        case .tooManyPoints: return "too_many_points"
        case .nonFinite: return "non_finite"
        case .unsortedX: return "unsorted_x"
        case .zeroXRange: return "zero_x_range"
        case .encodingOverflow: return "encoding_overflow"
        case .unsupportedVersion: return "unsupported_version"
        case .versionMismatch: return "encoding_version_mismatch"
        case .modelUnavailable: return "model_unavailable"
        case .predictionFailed: return "prediction_failed"
        }
    }

    public var message: String {
        switch self {
        case let .badPoint(index, reason): return "point \(index) is not exactly two numbers: \(reason)"
        case let .tooFewPoints(count): return "need at least 2 points, got \(count)"
        case let .tooManyPoints(count, limit): return "at most \(limit) points fit the model, got \(count)"
        case let .nonFinite(index, coordinate): return "point \(index) \(coordinate) is not finite"
        case let .unsortedX(index): return "x decreases at point \(index)"
        case let .zeroXRange(x): return "all points share x = \(x)"
        case let .encodingOverflow(channel, index):
            return "encoded \(channel == 0 ? "x" : "y")[\(index)] is not finite in float32"
        case let .unsupportedVersion(version):
            return "encoding version \(version) is not one of \(TrendSplitEncoder.versions)"
        case let .versionMismatch(model, input):
            return "the model takes encoding v\(model) inputs, got v\(input): encode with the model's version"
        case let .modelUnavailable(reason): return "model unavailable: \(reason)"
        case let .predictionFailed(reason): return "prediction failed: \(reason)"
        }
    }
}

extension TrendSplitError: CustomStringConvertible {
    public var description: String { "\(code): \(message)" }
}
