#if !RCT_NEW_ARCH_ENABLED
import Foundation

/// Old-architecture entry point, exported by TrendSplitLegacy.m with RCT_EXTERN_MODULE.
@objc(TrendSplit)
final class TrendSplitLegacy: NSObject {
    /// No UIKit work at setup: React Native may create the module off the main queue.
    @objc static func requiresMainQueueSetup() -> Bool { false }

    /// React Native calls exported methods on this serial background queue.
    @objc var methodQueue: DispatchQueue { TrendSplitImpl.shared.queue }

    @objc(split:encodingVersion:resolve:reject:)
    func split(_ points: NSArray, encodingVersion: NSNumber, resolve: @escaping RCTPromiseResolveBlock,
               reject: @escaping RCTPromiseRejectBlock) {
        TrendSplitImpl.shared.split(points, encodingVersion: encodingVersion, resolve: { resolve($0) },
                                    reject: { reject($0, $1, $2) })
    }

    @objc(encodingVersion:reject:)
    func encodingVersion(_ resolve: @escaping RCTPromiseResolveBlock, reject: @escaping RCTPromiseRejectBlock) {
        TrendSplitImpl.shared.encodingVersion(resolve: { resolve($0) }, reject: { reject($0, $1, $2) })
    }
}
#endif
