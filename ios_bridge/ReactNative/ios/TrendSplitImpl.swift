import CoreML
import Foundation
#if canImport(TrendSplitCore)
import TrendSplitCore
import TrendSplitCoreML
#endif

/// The work behind both React Native entry points (TurboModule and legacy bridge):
/// encode with TrendSplitEncoder, predict with the bundled model, decode, and resolve or
/// reject with the same error codes as the Python harness. Runs on one serial background
/// queue, so the JS thread and the main thread never wait on CoreML.
///
/// The encoding version is the model's (its `encoding_version` metadata): points are
/// encoded for the model that is bundled. JavaScript built against one version passes it as
/// `encodingVersion`, and a bundled model of another version rejects with
/// `encoding_version_mismatch` instead of predicting on inputs it was not trained on.
@objc(TrendSplitImpl)
public final class TrendSplitImpl: NSObject {
    @objc public static let shared = TrendSplitImpl()

    @objc public let queue = DispatchQueue(label: "trendsplit.predict", qos: .userInitiated)
    /// The bundled model's name (`<name>.mlmodelc`): "trendsplit" (v1) or "trendsplit-v2".
    @objc public var modelName = "trendsplit"
    private var model: TrendSplitModel?

    private func loadedModel() throws -> TrendSplitModel {
        if model == nil { model = try TrendSplitModel(bundled: modelName) }
        return model!
    }

    /// `points` as JavaScript sends them: an array of [x, y] number arrays. `encodingVersion`
    /// is the version the JavaScript expects (0: whatever the model takes).
    @objc public func split(_ points: NSArray, encodingVersion: NSNumber,
                            resolve: @escaping (Any?) -> Void,
                            reject: @escaping (String?, String?, Error?) -> Void) {
        queue.async {
            do {
                let parsed = try Self.parse(points)
                let model = try self.loadedModel()
                try model.contract().require(expected: Self.expected(encodingVersion))
                let indices = try model.splits(x: parsed.map { $0[0] }, y: parsed.map { $0[1] })
                resolve(indices.map { NSNumber(value: $0) })
            } catch let error as TrendSplitError {
                reject(error.code, error.message, error)
            } catch {
                let wrapped = TrendSplitError.predictionFailed(reason: "\(error)")
                reject(wrapped.code, wrapped.message, error)
            }
        }
    }

    /// The bundled model's encoding version, from its metadata.
    @objc public func encodingVersion(resolve: @escaping (Any?) -> Void,
                                      reject: @escaping (String?, String?, Error?) -> Void) {
        queue.async {
            do {
                resolve(NSNumber(value: try self.loadedModel().contract().encodingVersion))
            } catch let error as TrendSplitError {
                reject(error.code, error.message, error)
            } catch {
                let wrapped = TrendSplitError.modelUnavailable(reason: "\(error)")
                reject(wrapped.code, wrapped.message, error)
            }
        }
    }

    /// JavaScript's 0 (or a non-integer) means "no expectation".
    static func expected(_ version: NSNumber) -> Int? {
        let value = version.intValue
        return value == 0 ? nil : value
    }

    /// Only arrays of exactly two numbers are points; anything else is `bad_point` (after
    /// `too_many_points`, which the count alone decides: a huge array is not walked).
    static func parse(_ points: NSArray) throws -> [[Double]] {
        try TrendSplitEncoder.checkCount(points.count)
        return try points.enumerated().map { i, item in
            guard let pair = item as? NSArray, pair.count == 2,
                  let x = pair[0] as? NSNumber, let y = pair[1] as? NSNumber,
                  CFGetTypeID(x) != CFBooleanGetTypeID(), CFGetTypeID(y) != CFBooleanGetTypeID() else {
                throw TrendSplitError.badPoint(index: i, reason: "\(item) is not an [x, y] pair of numbers")
            }
            return [x.doubleValue, y.doubleValue]
        }
    }
}
