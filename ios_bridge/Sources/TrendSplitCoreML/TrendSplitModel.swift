#if canImport(CoreML)
import CoreML
import Foundation
import TrendSplitCore

/// Runs the compiled trendsplit model: points in, split indices out.
///
/// Loads the model once and reuses it; safe to call from any thread (CoreML's
/// `prediction(from:)` is thread-safe for a loaded model; loading is guarded by a lock).
/// Uses the `points` / `split_probs` feature names, never Xcode's generated accessors,
/// so a re-export that renames internal tensors cannot silently break the app. The input
/// encoding's version comes from the model's own metadata (`encoding_version`), so a v2
/// model is always fed v2 input; input encoded with another version fails `versionMismatch`.
/// Decisions are taken at the model's own threshold (`decision_threshold`, absent = 0.5).
public final class TrendSplitModel: @unchecked Sendable {
    public static let inputName = "points"
    public static let outputName = "split_probs"

    private let url: URL
    private let configuration: MLModelConfiguration
    private let lock = NSLock()
    private var loaded: (model: MLModel, contract: TrendSplitContract)?

    /// - Parameter compiledModelURL: the `.mlmodelc` folder (Xcode compiles a bundled
    ///   `.mlpackage` into one; `MLModel.compileModel(at:)` does it at run time).
    public init(compiledModelURL: URL, computeUnits: MLComputeUnits = .all) {
        url = compiledModelURL
        configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
    }

    /// The model in the app bundle, compiled by Xcode from `<name>.mlpackage`.
    public convenience init(bundled name: String = "trendsplit", in bundle: Bundle = .main,
                            computeUnits: MLComputeUnits = .all) throws {
        guard let url = bundle.url(forResource: name, withExtension: "mlmodelc") else {
            throw TrendSplitError.modelUnavailable(reason: "\(name).mlmodelc is not in the bundle")
        }
        self.init(compiledModelURL: url, computeUnits: computeUnits)
    }

    private func model() throws -> (model: MLModel, contract: TrendSplitContract) {
        lock.lock()
        defer { lock.unlock() }
        if let loaded { return loaded }
        let model: MLModel
        do {
            model = try MLModel(contentsOf: url, configuration: configuration)
        } catch {
            throw TrendSplitError.modelUnavailable(reason: "\(error)")
        }
        let metadata = model.modelDescription.metadata[.creatorDefinedKey] as? [String: String] ?? [:]
        let pair = (model: model, contract: try TrendSplitContract(metadata: metadata))
        loaded = pair
        return pair
    }

    /// The model's input contract (its encoding version), read from its metadata.
    public func contract() throws -> TrendSplitContract { try model().contract }

    /// Probabilities for input encoded with a known version; `versionMismatch` if it is not the model's.
    public func probabilities(_ encoded: TrendSplitEncoded) throws -> [Float] {
        try model().contract.check(encoded)
        return try probabilities(encoded: encoded.values)
    }

    /// Probabilities for already-encoded input (`TrendSplitEncoder.encode` with the model's
    /// version: 200 Floats for v1, 400 for v2; another version's count is `versionMismatch`).
    public func probabilities(encoded: [Float]) throws -> [Float] {
        let length = TrendSplitEncoder.length
        let (model, contract) = try model()
        try contract.check(values: encoded)
        let channels = contract.channels
        let input: MLMultiArray
        do {
            input = try MLMultiArray(shape: [1, NSNumber(value: channels), NSNumber(value: length)], dataType: .float32)
        } catch {
            throw TrendSplitError.predictionFailed(reason: "cannot allocate input: \(error)")
        }
        // An MLMultiArray's memory is not guaranteed to be zero: write every element,
        // honouring its strides rather than assuming a dense layout.
        let strides = input.strides.map { $0.intValue }
        let base = input.dataPointer.bindMemory(to: Float.self, capacity: strides[0])
        for channel in 0..<channels {
            for i in 0..<length {
                base[channel * strides[1] + i * strides[2]] = encoded[channel * length + i]
            }
        }
        let output: MLFeatureProvider
        do {
            let features = try MLDictionaryFeatureProvider(
                dictionary: [Self.inputName: MLFeatureValue(multiArray: input)])
            output = try model.prediction(from: features)
        } catch let error as TrendSplitError {
            throw error
        } catch {
            throw TrendSplitError.predictionFailed(reason: "\(error)")
        }
        guard let probs = output.featureValue(for: Self.outputName)?.multiArrayValue,
              probs.count == length else {
            throw TrendSplitError.predictionFailed(reason: "no \(Self.outputName) output of \(length) values")
        }
        return (0..<length).map { probs[$0].floatValue }
    }

    /// Split indices for raw points (x in days, y in seconds), on the calling thread, at the
    /// model's own threshold (its `decision_threshold` metadata) unless `threshold` overrides it.
    public func splits(x: [Double], y: [Double], threshold: Float? = nil) throws -> [Int] {
        let contract = try contract()
        let encoded = try contract.encode(x: x, y: y)
        return try TrendSplitDecoder.splits(probabilities(encoded), count: x.count,
                                            threshold: threshold ?? contract.decisionThreshold)
    }

    /// Split indices off the main thread: the app's UI never waits on CoreML.
    @available(iOS 15.0, macOS 12.0, *)
    public func splits(points: [[Double]], threshold: Float? = nil) async throws -> [Int] {
        try await Task.detached(priority: .userInitiated) { [self] in
            for (i, point) in points.enumerated() where point.count != 2 {
                throw TrendSplitError.badPoint(index: i, reason: "it has \(point.count) values")
            }
            return try splits(x: points.map { $0[0] }, y: points.map { $0[1] }, threshold: threshold)
        }.value
    }
}
#endif
