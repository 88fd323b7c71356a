import Foundation

/// Any JSON value, decoded without Foundation's NSNumber/Bool ambiguity.
public enum JSONValue: Decodable, Equatable, Sendable {
    case bool(Bool), number(Double), string(String), null, array([JSONValue]), object

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Most likely first: every failed `try?` builds an error with its coding path, which
        // made nested arrays cost seconds per megabyte. JSONDecoder keeps true and 1 apart.
        if c.decodeNil() { self = .null }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else { self = .object }
    }

    var json: String {
        switch self {
        case let .bool(b): return b ? "true" : "false"
        case let .number(d):
            if !d.isFinite { return "null" }
            return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
        case let .string(s): return WireReply.quoted(s)
        case .null, .object: return "null"
        case let .array(a): return "[" + a.map(\.json).joined(separator: ",") + "]"
        }
    }
}

/// One request line. `op` is "encode" (default), "codes" or "batch".
///
/// An encode request carries either `points` (JSON numbers, readable) or `x` and `y`
/// (IEEE-754 binary64 bit patterns as 16 hex digits: exact, and able to say NaN).
/// `version` is the encoding version for encode and batch requests; absent means 1, so
/// requests written before v2 existed keep their meaning.
struct WireRequest: Decodable {
    var op: String?
    var version: Int?
    var id: JSONValue?
    var points: [JSONValue]?
    var x: [String]?
    var y: [String]?
    var count: Int?
    var width: Int?

    /// Deepest nesting of arrays and objects a request may have; valid ones have 3
    /// (`{"points": [[x, y]]}`). Decoding cost grows with depth, so deeper lines are refused unparsed.
    static let maxDepth = 8

    /// The deepest nesting of `[` and `{` in a JSON text, outside strings (a byte scan, no parse).
    static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0, deepest = 0
        var inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false }
                else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// Longest string id echoed back: replies stay small whatever the request carried.
    static let maxIDLength = 64

    /// Why `id` cannot be echoed (an array, an object, a long string), or nil.
    var idRefusal: String? {
        switch id {
        case .array, .object: return "id must be a number, a string, a bool or null"
        case let .string(s) where s.utf8.count > Self.maxIDLength:
            return "id strings are at most \(Self.maxIDLength) bytes, got \(s.utf8.count)"
        default: return nil
        }
    }

    /// A binary64 from exactly 16 hex digits ([0-9a-fA-F]{16}); nil for anything else.
    /// (`UInt64(_:radix:)` alone also takes a sign: "+000000000000000".)
    static func binary64(hex: String) -> Double? {
        var bits: UInt64 = 0
        var digits = 0
        for byte in hex.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            digits += 1
            if digits > 16 { return nil }
            bits = bits << 4 | UInt64(value)
        }
        return digits == 16 ? Double(bitPattern: bits) : nil
    }
}
