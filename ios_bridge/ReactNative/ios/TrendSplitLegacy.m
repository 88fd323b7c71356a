// Old-architecture bridge: exports the Swift class TrendSplitLegacy as "TrendSplit".
#ifndef RCT_NEW_ARCH_ENABLED
#import <React/RCTBridgeModule.h>

@interface RCT_EXTERN_MODULE(TrendSplit, NSObject)

RCT_EXTERN_METHOD(split:(NSArray *)points
                  encodingVersion:(nonnull NSNumber *)encodingVersion
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject)

RCT_EXTERN_METHOD(encodingVersion:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject)

@end
#endif
