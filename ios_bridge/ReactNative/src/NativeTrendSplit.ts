// Codegen spec for the TrendSplit TurboModule. React Native's codegen reads this file
// (package.json "codegenConfig") and generates the NativeTrendSplitSpec protocol that
// ios/TrendSplit.mm conforms to.
import type { TurboModule } from 'react-native';
import { TurboModuleRegistry } from 'react-native';

export interface Spec extends TurboModule {
  /**
   * Split indices for a watch's measurements: `points` are [x, y] pairs, x the time in
   * days (any origin, ascending), y the offset in seconds. Rejects with one of the
   * TrendSplitErrorCode strings.
   */
  split(points: ReadonlyArray<ReadonlyArray<number>>): Promise<ReadonlyArray<number>>;
}

export default TurboModuleRegistry.getEnforcing<Spec>('TrendSplit');
