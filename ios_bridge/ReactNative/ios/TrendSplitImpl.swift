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
@objc(TrendSplitImpl)
public final class TrendSplitImpl: NSObject {
    @objc public static let shared = TrendSplitImpl()

    @objc public let queue = DispatchQueue(label: "trendsplit.predict", qos: .userInitiated)
    private var model: TrendSplitModel?

    /// `points` as JavaScript sends them: an array of [x, y] number arrays.
    @objc public func split(_ points: NSArray,
                            resolve: @escaping (Any?) -> Void,
                            reject: @escaping (String?, String?, Error?) -> Void) {
        queue.async {
            do {
                let parsed = try Self.parse(points)
                if self.model == nil { self.model = try TrendSplitModel(bundled: "trendsplit") }
                let indices = try self.model!.splits(x: parsed.map { $0[0] }, y: parsed.map { $0[1] })
                resolve(indices.map { NSNumber(value: $0) })
            } catch let error as TrendSplitError {
                reject(error.code, error.message, error)
            } catch {
                let wrapped = TrendSplitError.predictionFailed(reason: "\(error)")
                reject(wrapped.code, wrapped.message, error)
            }
        }
    }

    /// Only arrays of exactly two numbers are points; anything else is `bad_point`.
    static func parse(_ points: NSArray) throws -> [[Double]] {
        try points.enumerated().map { i, item in
            guard let pair = item as? NSArray, pair.count == 2,
                  let x = pair[0] as? NSNumber, let y = pair[1] as? NSNumber,
                  CFGetTypeID(x) != CFBooleanGetTypeID(), CFGetTypeID(y) != CFBooleanGetTypeID() else {
                throw TrendSplitError.badPoint(index: i, reason: "\(item) is not an [x, y] pair of numbers")
            }
            return [x.doubleValue, y.doubleValue]
        }
    }
}
