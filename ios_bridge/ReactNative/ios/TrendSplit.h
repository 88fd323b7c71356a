// New-architecture entry point: conforms to the spec codegen generates from
// src/NativeTrendSplit.ts and delegates to the Swift TrendSplitImpl.
#ifdef RCT_NEW_ARCH_ENABLED
#import <TrendSplitSpec/TrendSplitSpec.h>

@interface TrendSplit : NSObject <NativeTrendSplitSpec>
@end
#endif
