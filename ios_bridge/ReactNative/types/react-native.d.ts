// The few names of 'react-native' this package imports, declared as React Native declares them,
// so `tsc --noEmit` type-checks src/ where React Native cannot be installed (no npm registry).
// Kept to what src/ uses: a name added to src/ must be added here, or the check fails.
declare module 'react-native' {
  export interface TurboModule {
    getConstants?(): {};
  }
  export const TurboModuleRegistry: {
    get<T extends TurboModule>(name: string): T | null;
    getEnforcing<T extends TurboModule>(name: string): T;
  };
  export const NativeModules: { [name: string]: any };
}

// Metro, React Native's bundler, gives every module CommonJS `require`.
declare function require(name: string): any;
