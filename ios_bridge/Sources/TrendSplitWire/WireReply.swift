import Foundation
import TrendSplitCore

/// Reply lines: one JSON object per line, `"ok": true` or an error `code` and `message`.
enum WireReply {
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Characters of a request quoted back in a message: enough to recognise it, never megabytes.
    static let excerptLength = 80
    /// Longest message, as a backstop for messages that quote several things.
    static let maxMessageLength = 400

    /// The first `excerptLength` characters of `s`, with "..." when it was longer.
    static func excerpt(_ s: some StringProtocol) -> String {
        s.count > excerptLength ? s.prefix(excerptLength) + "..." : String(s)
    }

    static func error(id: JSONValue?, code: String, message: String) -> String {
        let message = message.count > maxMessageLength ? message.prefix(maxMessageLength) + "..." : message
        return "{\"id\":\((id ?? .null).json),\"ok\":false,\"code\":\(quoted(code)),\"message\":\(quoted(message))}\n"
    }

    static func encoded(id: JSONValue?, values: [Float]) -> String {
        let bits = values.map { String($0.bitPattern) }.joined(separator: ",")
        return "{\"id\":\((id ?? .null).json),\"ok\":true,\"bits\":[\(bits)]}\n"
    }
}
