import Foundation

/// Any JSON value, decoded without Foundation's NSNumber/Bool ambiguity.
public enum JSONValue: Decodable, Equatable, Sendable {
    case bool(Bool), number(Double), string(String), null, array([JSONValue]), object

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
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
struct WireRequest: Decodable {
    var op: String?
    var id: JSONValue?
    var points: [JSONValue]?
    var x: [String]?
    var y: [String]?
    var count: Int?
    var width: Int?
}
