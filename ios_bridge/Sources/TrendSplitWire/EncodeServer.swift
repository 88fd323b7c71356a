import Foundation
import TrendSplitCore

/// The encoder as a line protocol, so the Python harness can run the app's own Swift
/// code on millions of cases through one persistent process.
///
/// JSON lines (readable; one reply line per request line):
///   {"id": 1, "points": [[0, 1.5], [1, 2]]}            -> {"id":1,"ok":true,"bits":[...200 uint32]}
///   {"id": 2, "x": ["3ff0000000000000", ...], "y": [...]}  (binary64 bit patterns, exact)
///   {"op": "codes"}                                      -> the error codes and the padded length
///   anything malformed                                   -> {"ok":false,"code":"bad_request",...}
/// Binary batches (volume):
///   {"op": "batch", "count": B, "width": M}\n then B int32 lengths and B*M*2 float64
///   (x, y per point), little-endian -> a JSON header line, then B code bytes
///   (0 = encoded, k = codes[k-1]) and B*2*100 uint32 float32 bit patterns.
public struct EncodeServer {
    public static let badRequest = "bad_request"
    public static let maxBatchBytes = 1 << 30

    public init() {}

    /// Answer one request line; `readPayload(n)` supplies the n bytes after a batch header.
    public func handle(line: String, readPayload: (Int) -> [UInt8]?) -> [UInt8] {
        let request: WireRequest
        do {
            request = try JSONDecoder().decode(WireRequest.self, from: Data(line.utf8))
        } catch {
            return Array(WireReply.error(id: nil, code: Self.badRequest,
                                         message: "not a JSON request object: \(line.prefix(80))").utf8)
        }
        switch request.op ?? "encode" {
        case "encode": return Array(encode(request).utf8)
        case "codes":
            let codes = TrendSplitError.encodingCodes.map(WireReply.quoted).joined(separator: ",")
            return Array(("{\"id\":\((request.id ?? .null).json),\"ok\":true,\"codes\":[\(codes)],"
                          + "\"version\":\(TrendSplitEncoder.version),"
                          + "\"length\":\(TrendSplitEncoder.length)}\n").utf8)
        case "batch": return batch(request, readPayload: readPayload)
        case let other:
            return Array(WireReply.error(id: request.id, code: Self.badRequest,
                                         message: "unknown op \(other); ops: encode, codes, batch").utf8)
        }
    }

    private func encode(_ request: WireRequest) -> String {
        do {
            if let points = request.points {
                return WireReply.encoded(id: request.id, values: try TrendSplitEncoder.encode(points: numbers(points)))
            }
            guard let xs = request.x, let ys = request.y else {
                return WireReply.error(id: request.id, code: Self.badRequest,
                                       message: "an encode request needs points, or x and y")
            }
            guard let x = doubles(hex: xs), let y = doubles(hex: ys) else {
                return WireReply.error(id: request.id, code: Self.badRequest,
                                       message: "x and y must be 16-hex-digit binary64 bit patterns")
            }
            return WireReply.encoded(id: request.id, values: try TrendSplitEncoder.encode(x: x, y: y))
        } catch let error as TrendSplitError {
            return WireReply.error(id: request.id, code: error.code, message: error.message)
        } catch {
            return WireReply.error(id: request.id, code: Self.badRequest, message: "\(error)")
        }
    }

    /// JSON points -> [[Double]], with `bad_point` for anything but a pair of numbers.
    private func numbers(_ points: [JSONValue]) throws -> [[Double]] {
        try points.enumerated().map { i, point in
            guard case let .array(pair) = point else {
                throw TrendSplitError.badPoint(index: i, reason: "it is \(point.json), not a pair")
            }
            return try pair.map { value in
                guard case let .number(d) = value else {
                    throw TrendSplitError.badPoint(index: i, reason: "\(value.json) is not a number")
                }
                return d
            }
        }
    }

    private func doubles(hex: [String]) -> [Double]? {
        var out = [Double]()
        out.reserveCapacity(hex.count)
        for h in hex {
            guard h.count == 16, let bits = UInt64(h, radix: 16) else { return nil }
            out.append(Double(bitPattern: bits))
        }
        return out
    }

    private func batch(_ request: WireRequest, readPayload: (Int) -> [UInt8]?) -> [UInt8] {
        guard let count = request.count, let width = request.width, count >= 0, width >= 0,
              count * (4 + width * 16) <= Self.maxBatchBytes else {
            return Array(WireReply.error(id: request.id, code: Self.badRequest,
                                         message: "a batch needs count >= 0 and width >= 0 within 1 GiB").utf8)
        }
        guard let payload = readPayload(count * (4 + width * 16)) else {
            return Array(WireReply.error(id: request.id, code: Self.badRequest,
                                         message: "the batch payload ended early").utf8)
        }
        let length = TrendSplitEncoder.length
        var codes = [UInt8](repeating: 0, count: count)
        var bits = [UInt32](repeating: 0, count: count * 2 * length)
        payload.withUnsafeBytes { raw in
            let valueBase = 4 * count
            for k in 0..<count {
                let n = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)))
                if n < 0 || n > width {
                    codes[k] = UInt8(TrendSplitError.encodingCodes.count + 1)  // bad_request
                    continue
                }
                var x = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n)
                for i in 0..<n {
                    let offset = valueBase + (k * width + i) * 16
                    x[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                    y[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
                }
                do {
                    let values = try TrendSplitEncoder.encode(x: x, y: y)
                    for j in 0..<(2 * length) { bits[k * 2 * length + j] = values[j].bitPattern.littleEndian }
                } catch let error as TrendSplitError {
                    codes[k] = UInt8((TrendSplitError.encodingCodes.firstIndex(of: error.code) ?? 0) + 1)
                } catch {
                    codes[k] = UInt8(TrendSplitError.encodingCodes.count + 1)
                }
            }
        }
        var reply = Array("{\"id\":\((request.id ?? .null).json),\"ok\":true,\"op\":\"batch\",\"count\":\(count)}\n".utf8)
        reply += codes
        bits.withUnsafeBytes { reply += $0 }
        return reply
    }
}
