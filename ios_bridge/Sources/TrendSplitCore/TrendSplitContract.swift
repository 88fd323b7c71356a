/// Input encoded with a known encoding version: what a model may be fed.
///
/// Carrying the version with the values is what stops an app from pairing a v2 model with
/// v1 input: both have 100 positions, and a [1, 2, 100] array copied into a [1, 4, 100]
/// model input would leave two channels of garbage or zeros and still "work".
public struct TrendSplitEncoded: Equatable, Sendable {
    public let version: Int
    /// Channel-major `[channels * 100]`, as `TrendSplitEncoder.encode` returns it.
    public let values: [Float]
    /// The number of real points (the rest is padding).
    public let count: Int

    public init(x: [Double], y: [Double], version: Int) throws {
        values = try TrendSplitEncoder.encode(x: x, y: y, version: version)
        self.version = version
        count = x.count
    }

    public var channels: Int { values.count / TrendSplitEncoder.length }
}

/// What a model declares: the encoding version it was trained on and the threshold its
/// decisions are taken at, read from its metadata (the harness's exports write the model's
/// metadata into the CoreML model's user-defined metadata and the manifest). Pure Swift, so
/// the pairing rules test on Linux.
public struct TrendSplitContract: Equatable, Sendable {
    public static let metadataKey = "encoding_version"
    /// Absent means `TrendSplitDecoder.defaultThreshold` (0.5), as every model before it was.
    public static let thresholdKey = "decision_threshold"
    public let encodingVersion: Int
    /// `p > decisionThreshold` is a split: the model's own, so an app cannot decode a model
    /// tuned for another threshold at 0.5.
    public let decisionThreshold: Float

    public init(encodingVersion: Int, decisionThreshold: Float = TrendSplitDecoder.defaultThreshold) throws {
        _ = try TrendSplitEncoder.channels(version: encodingVersion)
        guard decisionThreshold.isFinite, decisionThreshold > 0, decisionThreshold < 1 else {
            throw TrendSplitError.modelUnavailable(
                reason: "the model's \(Self.thresholdKey) is \(decisionThreshold), not a probability between 0 and 1")
        }
        self.encodingVersion = encodingVersion
        self.decisionThreshold = decisionThreshold
    }

    /// From a model's user-defined metadata. A model without the key is refused rather than
    /// guessed at: every export since encoding v1 writes it, so its absence means a foreign model.
    public init(metadata: [String: String]) throws {
        guard let text = metadata[Self.metadataKey] else {
            throw TrendSplitError.modelUnavailable(
                reason: "the model's metadata has no \(Self.metadataKey): cannot tell which encoding it takes")
        }
        guard let version = Int(text) else {
            throw TrendSplitError.modelUnavailable(
                reason: "the model's \(Self.metadataKey) is \(text.debugDescription), not a version number")
        }
        var threshold = TrendSplitDecoder.defaultThreshold
        if let text = metadata[Self.thresholdKey] {
            guard let value = Float(text) else {
                throw TrendSplitError.modelUnavailable(
                    reason: "the model's \(Self.thresholdKey) is \(text.prefix(80).debugDescription), not a number")
            }
            threshold = value
        }
        try self.init(encodingVersion: version, decisionThreshold: threshold)
    }

    /// Split indices from this model's probabilities, at its own threshold.
    public func splits(_ probabilities: [Float], count: Int) throws -> [Int] {
        try TrendSplitDecoder.splits(probabilities, count: count, threshold: decisionThreshold)
    }

    /// The model input's channels (2 for v1, 4 for v2); its shape is [1, channels, 100].
    public var channels: Int {
        // Validated in init, so this cannot fail.
        (try? TrendSplitEncoder.channels(version: encodingVersion)) ?? 0
    }

    /// Encode raw points the way this model was trained.
    public func encode(x: [Double], y: [Double]) throws -> TrendSplitEncoded {
        try TrendSplitEncoded(x: x, y: y, version: encodingVersion)
    }

    /// `versionMismatch` unless `encoded` has this model's version (and so its channel count).
    public func check(_ encoded: TrendSplitEncoded) throws {
        guard encoded.version == encodingVersion else {
            throw TrendSplitError.versionMismatch(model: encodingVersion, input: encoded.version)
        }
    }

    /// `versionMismatch` when a caller built for `expected` meets this model (nil: no expectation).
    public func require(expected: Int?) throws {
        if let expected, expected != encodingVersion {
            throw TrendSplitError.versionMismatch(model: encodingVersion, input: expected)
        }
    }

    /// For raw Float arrays (fixtures, recorders): the count must be this version's.
    public func check(values: [Float]) throws {
        let expected = channels * TrendSplitEncoder.length
        guard values.count == expected else {
            let input = TrendSplitEncoder.versions.first {
                (try? TrendSplitEncoder.channels(version: $0)) == values.count / TrendSplitEncoder.length
                    && values.count % TrendSplitEncoder.length == 0
            }
            if let input { throw TrendSplitError.versionMismatch(model: encodingVersion, input: input) }
            throw TrendSplitError.predictionFailed(
                reason: "encoded input must have \(expected) values (encoding v\(encodingVersion)), got \(values.count)")
        }
    }
}
