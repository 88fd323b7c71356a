#ifdef RCT_NEW_ARCH_ENABLED
#import "TrendSplit.h"

#if __has_include("TrendSplit/TrendSplit-Swift.h")
#import "TrendSplit/TrendSplit-Swift.h"
#else
#import "TrendSplit-Swift.h"
#endif

@implementation TrendSplit

RCT_EXPORT_MODULE()

+ (BOOL)requiresMainQueueSetup
{
  return NO;
}

- (dispatch_queue_t)methodQueue
{
  return TrendSplitImpl.shared.queue;
}

- (void)split:(NSArray *)points
    encodingVersion:(double)encodingVersion
            resolve:(RCTPromiseResolveBlock)resolve
             reject:(RCTPromiseRejectBlock)reject
{
  [TrendSplitImpl.shared split:points
               encodingVersion:@(encodingVersion)
                       resolve:^(id result) { resolve(result); }
                        reject:^(NSString *code, NSString *message, NSError *error) {
                          reject(code, message, error);
                        }];
}

- (void)encodingVersion:(RCTPromiseResolveBlock)resolve
                 reject:(RCTPromiseRejectBlock)reject
{
  [TrendSplitImpl.shared encodingVersionWithResolve:^(id result) { resolve(result); }
                                             reject:^(NSString *code, NSString *message, NSError *error) {
                                               reject(code, message, error);
                                             }];
}

- (std::shared_ptr<facebook::react::TurboModule>)getTurboModule:
    (const facebook::react::ObjCTurboModule::InitParams &)params
{
  return std::make_shared<facebook::react::NativeTrendSplitSpecJSI>(params);
}

@end
#endif
