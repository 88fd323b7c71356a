// Codegen spec for the TrendSplit TurboModule. React Native's codegen reads this file
// (package.json "codegenConfig") and generates the NativeTrendSplitSpec protocol that
// ios/TrendSplit.mm conforms to.
import type { TurboModule } from 'react-native';
import { TurboModuleRegistry } from 'react-native';

export interface Spec extends TurboModule {
  /**
   * Split indices for a watch's measurements: `points` are [x, y] pairs, x the time in
   * days (any origin, ascending), y the offset in seconds. Rejects with one of the
   * TrendSplitErrorCode strings. `encodingVersion` is the encoding the caller expects the
   * bundled model to take (0: whatever it takes); another rejects with
   * 'encoding_version_mismatch'.
   */
  split(points: ReadonlyArray<ReadonlyArray<number>>, encodingVersion: number): Promise<ReadonlyArray<number>>;
  /** The bundled model's encoding version, from its metadata (1, 2 or 3). */
  encodingVersion(): Promise<number>;
}

export default TurboModuleRegistry.getEnforcing<Spec>('TrendSplit');
