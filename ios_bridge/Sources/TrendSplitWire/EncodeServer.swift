import Foundation
import TrendSplitCore

/// The encoder as a line protocol, so the Python harness can run the app's own Swift
/// code on millions of cases through one persistent process.
///
/// JSON lines (readable; one reply line per request line):
///   {"id": 1, "points": [[0, 1.5], [1, 2]]}            -> {"id":1,"ok":true,"bits":[...200 uint32]}
///   {"id": 2, "x": ["3ff0000000000000", ...], "y": [...]}  (binary64 bit patterns, exact)
///   {"id": 3, "version": 2, "points": [...]}           -> encoding v2: 400 uint32 (C = 4 channels)
///   {"op": "codes"}                                      -> the error codes, versions, padded length, caps
///   anything malformed                                   -> {"ok":false,"code":"bad_request",...}
/// Binary batches (volume):
///   {"op": "batch", "count": B, "width": M, "version": V}\n then B int32 lengths and B*M*2
///   float64 (x, y per point), little-endian -> a JSON header line (with "channels": C), then B
///   code bytes (0 = encoded, k = codes[k-1]) and B*C*100 uint32 float32 bit patterns.
/// No `version` means 1 (v1 requests stay valid); an unknown one is `unsupported_version`.
///
/// Hostile input gets a `bad_request` reply and the process carries on: every size is checked
/// against `limits` before anything is allocated, lines longer than `limits.line` are discarded
/// without being buffered, and messages quote at most 80 characters of what was sent.
public struct EncodeServer {
    public static let badRequest = "bad_request"
    public let limits: WireLimits

    public init(limits: WireLimits = .standard) {
        self.limits = limits
    }

    /// Answer requests from `reader` until its input ends, handing each reply to `write`.
    public func serve(_ reader: BoundedReader, write: ([UInt8]) -> Void) {
        while true {
            switch reader.readLine(max: limits.line) {
            case .end: return
            case let .line(line):
                if !line.isEmpty { write(handle(line: line, readPayload: reader.read(exactly:))) }
            case let .tooLong(head, length):
                let quoted = String(decoding: head, as: UTF8.self) + "..."
                write(Array(WireReply.error(id: nil, code: Self.badRequest,
                                            message: "request line of \(length) bytes exceeds the cap of "
                                                + "\(limits.line): \(quoted)").utf8))
            }
        }
    }

    /// Answer one request line; `readPayload(n)` supplies the next n bytes after a batch header
    /// (called once for the lengths, then once per series), nil if the input ends first.
    public func handle(line: String, readPayload: (Int) -> [UInt8]?) -> [UInt8] {
        handle(line: Array(line.utf8), readPayload: readPayload)
    }

    public func handle(line: [UInt8], readPayload: (Int) -> [UInt8]?) -> [UInt8] {
        let depth = WireRequest.nestingDepth(line)
        if depth > WireRequest.maxDepth {
            return Array(WireReply.error(id: nil, code: Self.badRequest,
                                         message: "JSON nested \(depth) deep; requests nest at most "
                                             + "\(WireRequest.maxDepth)").utf8)
        }
        let request: WireRequest
        do {
            request = try JSONDecoder().decode(WireRequest.self, from: Data(line))
        } catch {
            let quoted = WireReply.excerpt(String(decoding: line.prefix(4 * WireReply.excerptLength), as: UTF8.self))
            return Array(WireReply.error(id: nil, code: Self.badRequest,
                                         message: "not a JSON request object: \(quoted)").utf8)
        }
        if let refusal = request.idRefusal {
            return Array(WireReply.error(id: nil, code: Self.badRequest, message: refusal).utf8)
        }
        switch request.op ?? "encode" {
        case "encode": return Array(encode(request).utf8)
        case "codes":
            let codes = TrendSplitError.encodingCodes.map(WireReply.quoted).joined(separator: ",")
            return Array(("{\"id\":\((request.id ?? .null).json),\"ok\":true,\"codes\":[\(codes)],"
                          + "\"version\":\(TrendSplitEncoder.version),"
                          + "\"versions\":[\(TrendSplitEncoder.versions.map(String.init).joined(separator: ","))],"
                          + "\"length\":\(TrendSplitEncoder.length),\"limits\":\(limits.json)}\n").utf8)
        case "batch": return batch(request, readPayload: readPayload)
        case let other:
            return Array(WireReply.error(id: request.id, code: Self.badRequest,
                                         message: "unknown op \(WireReply.excerpt(other)); ops: encode, codes, batch").utf8)
        }
    }

    private func encode(_ request: WireRequest) -> String {
        let version = request.version ?? TrendSplitEncoder.version
        do {
            _ = try TrendSplitEncoder.channels(version: version)  // before the points: a version error comes first
            if let points = request.points {
                return WireReply.encoded(id: request.id,
                                         values: try TrendSplitEncoder.encode(points: numbers(points), version: version))
            }
            guard let xs = request.x, let ys = request.y else {
                return WireReply.error(id: request.id, code: Self.badRequest,
                                       message: "an encode request needs points, or x and y")
            }
            guard let x = doubles(hex: xs), let y = doubles(hex: ys) else {
                return WireReply.error(id: request.id, code: Self.badRequest,
                                       message: "x and y must be 16-hex-digit binary64 bit patterns")
            }
            return WireReply.encoded(id: request.id, values: try TrendSplitEncoder.encode(x: x, y: y, version: version))
        } catch let error as TrendSplitError {
            return WireReply.error(id: request.id, code: error.code, message: error.message)
        } catch {
            return WireReply.error(id: request.id, code: Self.badRequest, message: "\(error)")
        }
    }

    /// JSON points -> [[Double]], with `bad_point` for anything but a pair of numbers (after
    /// `too_many_points`, which the count alone decides, as in Python).
    private func numbers(_ points: [JSONValue]) throws -> [[Double]] {
        try TrendSplitEncoder.checkCount(points.count)
        return try points.enumerated().map { i, point in
            guard case let .array(pair) = point else {
                throw TrendSplitError.badPoint(index: i, reason: "it is \(WireReply.excerpt(point.json)), not a pair")
            }
            return try pair.map { value in
                guard case let .number(d) = value else {
                    throw TrendSplitError.badPoint(index: i, reason: "\(WireReply.excerpt(value.json)) is not a number")
                }
                return d
            }
        }
    }

    private func doubles(hex: [String]) -> [Double]? {
        var out = [Double]()
        out.reserveCapacity(hex.count)
        for h in hex {
            guard let value = WireRequest.binary64(hex: h) else { return nil }
            out.append(value)
        }
        return out
    }

    /// A binary batch, read one series at a time: input memory is one row, output count * (1 + 400 C) bytes.
    private func batch(_ request: WireRequest, readPayload: (Int) -> [UInt8]?) -> [UInt8] {
        guard let count = request.count, let width = request.width else {
            return Array(WireReply.error(id: request.id, code: Self.badRequest,
                                         message: "a batch needs integer count and width").utf8)
        }
        if let refusal = limits.refusal(count: count, width: width) {
            return Array(WireReply.error(id: request.id, code: Self.badRequest, message: refusal).utf8)
        }
        let version = request.version ?? TrendSplitEncoder.version
        let channels: Int
        do {
            channels = try TrendSplitEncoder.channels(version: version)
        } catch let error as TrendSplitError {
            return Array(WireReply.error(id: request.id, code: error.code, message: error.message).utf8)
        } catch {
            return Array(WireReply.error(id: request.id, code: Self.badRequest, message: "\(error)").utf8)
        }
        guard let lengths = readPayload(4 * count) else { return endedEarly(request) }
        let length = TrendSplitEncoder.length
        let badRequestCode = UInt8(TrendSplitError.encodingCodes.count + 1)
        // The reply is built in place: header, then a code byte per series, then the bits.
        var reply = Array(("{\"id\":\((request.id ?? .null).json),\"ok\":true,\"op\":\"batch\",\"count\":\(count),"
                           + "\"version\":\(version),\"channels\":\(channels)}\n").utf8)
        let codesAt = reply.count, bitsAt = codesAt + count
        reply += repeatElement(0, count: count + count * channels * length * 4)
        for k in 0..<count {
            guard let row = readPayload(16 * width) else { return endedEarly(request) }
            let n = lengths.withUnsafeBytes { Int(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self))) }
            if n < 0 || n > width {
                reply[codesAt + k] = badRequestCode
                continue
            }
            var x = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n)
            row.withUnsafeBytes { raw in
                for i in 0..<n {
                    x[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16 * i, as: UInt64.self)))
                    y[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16 * i + 8, as: UInt64.self)))
                }
            }
            do {
                let values = try TrendSplitEncoder.encode(x: x, y: y, version: version)
                reply.withUnsafeMutableBytes { out in
                    for j in 0..<(channels * length) {
                        out.storeBytes(of: values[j].bitPattern.littleEndian,
                                       toByteOffset: bitsAt + (k * channels * length + j) * 4, as: UInt32.self)
                    }
                }
            } catch let error as TrendSplitError {
                reply[codesAt + k] = UInt8((TrendSplitError.encodingCodes.firstIndex(of: error.code) ?? 0) + 1)
            } catch {
                reply[codesAt + k] = badRequestCode
            }
        }
        return reply
    }

    private func endedEarly(_ request: WireRequest) -> [UInt8] {
        Array(WireReply.error(id: request.id, code: Self.badRequest, message: "the batch payload ended early").utf8)
    }
}
