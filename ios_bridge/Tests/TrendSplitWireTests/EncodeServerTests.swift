import Foundation
import XCTest
@testable import TrendSplitWire

final class EncodeServerTests: XCTestCase {
    let server = EncodeServer()

    func reply(_ line: String, payload: [UInt8]? = nil) -> [String: Any] {
        var offset = 0
        let bytes = server.handle(line: line) { count in
            guard let payload, payload.count - offset >= count else { return nil }
            defer { offset += count }
            return Array(payload[offset..<(offset + count)])
        }
        return firstLine(bytes)
    }

    func firstLine(_ bytes: [UInt8]) -> [String: Any] {
        let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        return (try? JSONSerialization.jsonObject(with: Data(bytes[..<end]))) as? [String: Any] ?? [:]
    }

    /// Everything the server writes for `input`, as the executable would (one stream in, one out).
    func serve(_ input: [UInt8], chunk: Int = 1 << 16) -> [UInt8] {
        var out = [UInt8]()
        server.serve(BoundedReader(bytes: input, chunk: chunk)) { out += $0 }
        return out
    }

    func replyLines(_ output: [UInt8]) -> [[String: Any]] {
        output.split(separator: UInt8(ascii: "\n")).map { firstLine(Array($0)) }
    }

    func testMalformedLinesGetABadRequestReplyNotACrash() {
        for line in ["garbage", "[1,2]", "{\"op\":\"encode\"}", "{\"x\":[\"zz\"],\"y\":[]}",
                     "{\"op\":\"fly\"}", "{\"op\":\"batch\",\"count\":-1,\"width\":1}", "{",
                     "{\"op\":\"batch\",\"count\":1.5,\"width\":1}", "{\"op\":\"batch\",\"count\":1}"] {
            let r = reply(line)
            XCTAssertEqual(r["ok"] as? Bool, false, line)
            XCTAssertEqual(r["code"] as? String, "bad_request", line)
        }
    }

    func testCodesListsTheEncodingRulesAndTheCaps() {
        let r = reply("{\"op\":\"codes\"}")
        XCTAssertEqual((r["codes"] as? [String])?.first, "bad_point")
        XCTAssertEqual(r["length"] as? Int, 100)
        let limits = r["limits"] as? [String: Int]
        XCTAssertEqual(limits, ["count": 100_000, "width": 4_096, "cells": 1 << 24, "line": 1 << 20])
    }

    func testEncodeByPointsAndByBitPatternsAgree() {
        let a = reply("{\"id\":7,\"points\":[[0,1],[2,5],[3,4]]}")
        let b = reply("{\"id\":8,\"x\":[\"0000000000000000\",\"4000000000000000\",\"4008000000000000\"],"
                      + "\"y\":[\"3ff0000000000000\",\"4014000000000000\",\"4010000000000000\"]}")
        XCTAssertEqual(a["id"] as? Int, 7)
        XCTAssertEqual((a["bits"] as? [Int])?.count, 200)
        XCTAssertEqual(a["bits"] as? [Int], b["bits"] as? [Int])
        XCTAssertEqual((a["bits"] as? [Int])?.first, Int(Float(-0.5).bitPattern))
    }

    func testEncodingErrorsCarryTheirCode() {
        XCTAssertEqual(reply("{\"points\":[[0,1,2],[1,1]]}")["code"] as? String, "bad_point")
        XCTAssertEqual(reply("{\"points\":[[0,\"a\"],[1,1]]}")["code"] as? String, "bad_point")
        XCTAssertEqual(reply("{\"points\":[[0,true],[1,1]]}")["code"] as? String, "bad_point")
        XCTAssertEqual(reply("{\"points\":[[1,0],[0,1]]}")["code"] as? String, "unsorted_x")
        // More points than fit is decided by the count before any point is read, as in Python.
        let strings = "[" + Array(repeating: "[0,\"a\"]", count: 101).joined(separator: ",") + "]"
        XCTAssertEqual(reply("{\"points\":\(strings)}")["code"] as? String, "too_many_points")
    }

    func testScalarIDsAreEchoedAsSent() {
        XCTAssertEqual(reply("{\"id\":true,\"op\":\"codes\"}")["id"] as? Bool, true)
        XCTAssertEqual(reply("{\"id\":1,\"op\":\"codes\"}")["id"] as? Int, 1)
        XCTAssertEqual(reply("{\"id\":\"a-b\",\"op\":\"codes\"}")["id"] as? String, "a-b")
    }

    func batchPayload(lengths: [Int32], rows: [[Double]]) -> [UInt8] {
        var payload = [UInt8]()
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { payload += $0 } }
        for n in lengths { append(n.littleEndian) }
        for row in rows { for v in row { append(v.bitPattern.littleEndian) } }
        return payload
    }

    func testBatchEncodesEachExample() {
        let payload = batchPayload(lengths: [2, 1], rows: [[0.0, 1.0, 2.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
        let bytes = serve(Array("{\"op\":\"batch\",\"count\":2,\"width\":2}\n".utf8) + payload)
        let header = bytes.firstIndex(of: UInt8(ascii: "\n"))!
        XCTAssertEqual(firstLine(bytes)["count"] as? Int, 2)
        let body = Array(bytes[(header + 1)...])
        XCTAssertEqual(body.count, 2 + 2 * 200 * 4)
        XCTAssertEqual(body[0], 0)  // encoded
        XCTAssertEqual(body[1], 2)  // codes[1] = too_few_points
        let first = body[2..<6].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        XCTAssertEqual(Float(bitPattern: first), -0.5)
    }

    func testBatchLengthOutsideZeroToWidthIsBadRequestForThatSeriesOnly() {
        let payload = batchPayload(lengths: [-1, 3, 2], rows: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 5]])
        let bytes = serve(Array("{\"op\":\"batch\",\"count\":3,\"width\":2}\n".utf8) + payload)
        let body = bytes[(bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1)...]
        XCTAssertEqual(Array(body.prefix(3)), [8, 8, 0])  // 8 = bad_request, after the 7 encoding codes
    }

    func testShortBatchPayloadIsAnError() {
        let r = reply("{\"op\":\"batch\",\"count\":3,\"width\":4}", payload: [1, 2, 3])
        XCTAssertEqual(r["code"] as? String, "bad_request")
        XCTAssertEqual(r["message"] as? String, "the batch payload ended early")
    }

    // MARK: hostile sizes (each of these trapped, aborted or took gigabytes before)

    /// Headers whose sizes overflow Int or exceed a cap are refused before any payload byte is read.
    func testOversizedBatchHeadersAreRefusedWithoutReadingThePayload() {
        let headers: [(Int, Int)] = [
            (1, 576_460_752_303_423_488), (1 << 62, 1), (Int.max, Int.max), (1 << 32, 1 << 28),
            (20_000_000, 0), (2_000_000, 0), (268_435_455, 0), (100_001, 0), (1, 4_097), (100_000, 168),
        ]
        for (count, width) in headers {
            var asked = [Int]()
            let bytes = server.handle(line: "{\"op\":\"batch\",\"count\":\(count),\"width\":\(width)}") { n in
                asked.append(n)
                return nil
            }
            let r = firstLine(bytes)
            XCTAssertEqual(r["code"] as? String, "bad_request", "\(count) x \(width)")
            XCTAssertTrue((r["message"] as? String)?.contains("cap") ?? false, "\(count) x \(width): \(r)")
            XCTAssertEqual(asked, [], "\(count) x \(width) read payload before refusing")
        }
    }

    /// The caps sit well above what trendsplit/differential.py sends (20,000 series of width 150).
    func testBatchesAtTheCapsAreAccepted() {
        let limits = WireLimits.standard
        XCTAssertNil(limits.refusal(count: 20_000, width: 150))
        XCTAssertNil(limits.refusal(count: limits.count, width: limits.cells / limits.count))
        XCTAssertNil(limits.refusal(count: limits.cells / limits.width, width: limits.width))
        XCTAssertNil(limits.refusal(count: 0, width: 0))
        let small = EncodeServer(limits: WireLimits(count: 3, width: 2, cells: 6, line: 100))
        let bytes = small.handle(line: "{\"op\":\"batch\",\"count\":3,\"width\":2}") { [UInt8](repeating: 0, count: $0) }
        let header = bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1
        XCTAssertEqual(firstLine(bytes)["ok"] as? Bool, true)
        XCTAssertEqual(bytes.count - header, 3 * (1 + 2 * 100 * 4))
    }

    /// The payload is read a series at a time: no read is larger than the lengths or one row.
    func testBatchPayloadIsReadOneSeriesAtATime() {
        var asked = [Int]()
        _ = server.handle(line: "{\"op\":\"batch\",\"count\":1000,\"width\":150}") { n in
            asked.append(n)
            return [UInt8](repeating: 0, count: n)
        }
        XCTAssertEqual(asked.count, 1001)
        XCTAssertEqual(asked.max(), 4_000)
    }

    func testCapsCheckMultiplicationForOverflow() {
        let unbounded = WireLimits(count: .max, width: .max, cells: .max, line: 1)
        XCTAssertNotNil(unbounded.refusal(count: 1 << 32, width: 1 << 32))
        XCTAssertNotNil(unbounded.refusal(count: Int.max, width: 2))
        XCTAssertNil(unbounded.refusal(count: 1 << 31, width: 1 << 31))
        XCTAssertNotNil(WireLimits.standard.refusal(count: -1, width: 0))
    }

    func testHexNeedsExactlySixteenHexDigits() {
        let one = "3ff0000000000000"
        for bad in ["+000000000000000", "-000000000000001", "+3ff000000000000", " 3ff000000000000",
                    "0x3ff00000000000", "3ff000000000000", "3ff00000000000000", "3ff000000000000g",
                    "３ff0000000000000", "3ff000000000000\u{0}", "3ff00000000000_0"] {
            let r = reply("{\"x\":[\"0000000000000000\",\"\(bad)\"],\"y\":[\"\(one)\",\"\(one)\"]}")
            XCTAssertEqual(r["code"] as? String, "bad_request", bad)
        }
        let upper = reply("{\"x\":[\"0000000000000000\",\"3FF0000000000000\"],\"y\":[\"\(one)\",\"\(one)\"]}")
        XCTAssertEqual(upper["ok"] as? Bool, true)
        XCTAssertEqual(WireRequest.binary64(hex: "fff0000000000000"), -.infinity)
        XCTAssertEqual(WireRequest.binary64(hex: "8000000000000000")?.sign, .minus)
    }

    func testAnOverlongLineIsDiscardedAndTheNextOneAnswered() {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: server.limits.line + 1)
        let out = serve(long + Array("\n{\"op\":\"codes\"}\n".utf8), chunk: 4096)
        let lines = replyLines(out)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines.first?["code"] as? String, "bad_request")
        XCTAssertLessThan(out.firstIndex(of: UInt8(ascii: "\n"))!, 300)
        XCTAssertEqual(lines.last?["ok"] as? Bool, true)
    }

    func testALineAtTheCapIsParsed() {
        let request = Array("{\"op\":\"codes\",\"id\":1}".utf8)
        let padded = request + [UInt8](repeating: UInt8(ascii: " "), count: server.limits.line - request.count)
        XCTAssertEqual(replyLines(serve(padded + [UInt8(ascii: "\n")])).first?["ok"] as? Bool, true)
    }

    func testMessagesQuoteAtMostAShortExcerpt() {
        let huge = String(repeating: "y", count: 100_000)
        for line in ["{\"op\":\"\(huge)\"}", "{\"points\":[[\"\(huge)\",1],[1,1]]}", "{\"points\":[\"\(huge)\"]}",
                     "{\"id\":\"\(huge)\"}", "\(huge)"] {
            let r = reply(line)
            XCTAssertEqual(r["ok"] as? Bool, false)
            XCTAssertLessThan((r["message"] as? String)?.count ?? .max, 200, String(line.prefix(20)))
            XCTAssertNil(r["id"] as? String)
        }
    }

    func testDeepNestingIsRefusedUnparsed() {
        for depth in [9, 600, 100_000] {
            let line = "{\"points\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            XCTAssertEqual(reply(line)["code"] as? String, "bad_request", "\(depth)")
        }
        XCTAssertEqual(WireRequest.nestingDepth(Array("{\"a\":\"[[[\\\"[[\",\"b\":[[1]]}".utf8)), 3)
    }

    // MARK: the bounded reader

    func testReaderSplitsLinesAcrossChunksAndKeepsPayloadBytes() {
        let reader = BoundedReader(bytes: Array("ab\r\ncdef\n\u{1}\u{2}\u{3}tail".utf8), chunk: 3)
        XCTAssertEqual(reader.readLine(max: 10), .line(Array("ab".utf8)))
        XCTAssertEqual(reader.readLine(max: 10), .line(Array("cdef".utf8)))
        XCTAssertEqual(reader.read(exactly: 3), [1, 2, 3])
        XCTAssertEqual(reader.readLine(max: 10), .line(Array("tail".utf8)))
        XCTAssertEqual(reader.readLine(max: 10), .end)
        XCTAssertNil(reader.read(exactly: 1))
    }

    func testReaderKeepsOnlyTheHeadOfALongLine() {
        let reader = BoundedReader(bytes: [UInt8](repeating: 65, count: 1_000) + Array("\nok\n".utf8), chunk: 7)
        guard case let .tooLong(head, length) = reader.readLine(max: 10) else { return XCTFail("not refused") }
        XCTAssertEqual(length, 1_000)
        XCTAssertLessThanOrEqual(head.count, 80)
        XCTAssertEqual(reader.readLine(max: 10), .line(Array("ok".utf8)))
    }

    func testReaderPayloadEndingEarlyIsNil() {
        let reader = BoundedReader(bytes: [1, 2, 3], chunk: 2)
        XCTAssertNil(reader.read(exactly: 4))
    }
}
