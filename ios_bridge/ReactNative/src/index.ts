// Typed wrapper over the TrendSplit native module (TurboModule or legacy bridge).
import { NativeModules } from 'react-native';
import type { Spec } from './NativeTrendSplit';

/** The codes the native module rejects with: the Swift `TrendSplitError.code` strings, and for the
 * encoding's rules the Python kit's (`trendsplit/errors.py`); tests/trendsplit/test_error_codes.py checks all three. */
export type TrendSplitErrorCode =
  | 'bad_point'
  | 'too_few_points'
  | 'too_many_points'
  | 'non_finite'
  | 'unsorted_x'
  | 'zero_x_range'
  | 'encoding_overflow'
  | 'unsupported_version'
  | 'encoding_version_mismatch'
  | 'model_unavailable'
  | 'prediction_failed';

export const TREND_SPLIT_ERROR_CODES: readonly TrendSplitErrorCode[] = [
  'bad_point',
  'too_few_points',
  'too_many_points',
  'non_finite',
  'unsorted_x',
  'zero_x_range',
  'encoding_overflow',
  'unsupported_version',
  'encoding_version_mismatch',
  'model_unavailable',
  'prediction_failed',
];

/** The model's padded length: more points than this are refused, never truncated. */
export const MAX_POINTS = 100;

export type Point = readonly [x: number, y: number];

export interface TrendSplitError extends Error {
  code: TrendSplitErrorCode;
}

export function isTrendSplitError(error: unknown): error is TrendSplitError {
  if (!(error instanceof Error)) {
    return false;
  }
  const code: unknown = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && (TREND_SPLIT_ERROR_CODES as readonly string[]).includes(code);
}

function nativeModule(): Spec {
  // New architecture: the TurboModule; old architecture: the RCT_EXTERN_MODULE bridge.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const turbo: Spec | null = require('./NativeTrendSplit').default ?? null;
  return turbo ?? (NativeModules.TrendSplit as Spec);
}

export interface SplitOptions {
  /**
   * The encoding version this app was built for. The native side encodes with the bundled
   * model's version (its metadata); if that differs, the call rejects with
   * 'encoding_version_mismatch' rather than predicting on inputs the model was not trained on.
   */
  encodingVersion?: 1 | 2 | 3;
}

/**
 * Indices i (ascending) after which the trendline breaks: the last reading before a reset
 * or a stop. Rejects with a TrendSplitError whose `code` says which rule was broken.
 */
export async function split(points: ReadonlyArray<Point>, options: SplitOptions = {}): Promise<number[]> {
  if (points.length > MAX_POINTS) {
    // decided by the length alone, before any point is copied, as the native encoder decides it
    const error = new Error(`at most ${MAX_POINTS} points fit the model, got ${points.length}`) as TrendSplitError;
    error.code = 'too_many_points';
    throw error;
  }
  const indices = await nativeModule().split(points.map((p) => [p[0], p[1]]), options.encodingVersion ?? 0);
  return Array.from(indices);
}

/** The bundled model's encoding version (1, 2 or 3), read from its metadata. */
export function encodingVersion(): Promise<number> {
  return nativeModule().encodingVersion();
}
