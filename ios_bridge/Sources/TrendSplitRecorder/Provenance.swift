import Foundation

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#endif

/// Where a results file was recorded: the device model and OS, as the Python harness records them.
public struct Provenance: Equatable {
    public var device: String
    public var os: String
    public var recorder: String
    public var created: String
    /// Anything else worth keeping (e.g. the app's version); strings only.
    public var extra: [String: String]

    public init(device: String, os: String, recorder: String = Provenance.recorderName,
                created: String = Provenance.now(), extra: [String: String] = [:]) {
        self.device = device
        self.os = os
        self.recorder = recorder
        self.created = created
        self.extra = extra
    }

    public static let recorderName = "TrendSplitRecorder 1"

    /// This device: its hardware model (`iPhone15,2` on a phone, `Mac14,2` on a Mac, the CPU elsewhere)
    /// and its OS version.
    public static func current(extra: [String: String] = [:]) -> Provenance {
        Provenance(device: hardwareModel(), os: osVersion(), extra: extra)
    }

    /// `uname` names the model on iOS (`iPhone15,2`); on a Mac `hw.model` does (`uname` says `arm64`).
    public static func hardwareModel() -> String {
        #if os(macOS)
        var size = 0
        if sysctlbyname("hw.model", nil, &size, nil, 0) == 0, size > 1 {
            var chars = [CChar](repeating: 0, count: size)
            if sysctlbyname("hw.model", &chars, &size, nil, 0) == 0 {
                return String(cString: chars)
            }
        }
        #endif
        var info = utsname()
        guard uname(&info) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    public static func osVersion() -> String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        #if os(iOS)
        let name = "iOS"
        #elseif os(macOS)
        let name = "macOS"
        #elseif os(Linux)
        let name = "Linux"
        #else
        let name = "unknown OS"
        #endif
        return "\(name) \(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
    }

    public static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
