import Foundation
import XCTest
@testable import TrendSplitWire

final class EncodeServerTests: XCTestCase {
    let server = EncodeServer()

    func reply(_ line: String, payload: [UInt8]? = nil) -> [String: Any] {
        let bytes = server.handle(line: line) { count in
            guard let payload, payload.count >= count else { return nil }
            return Array(payload.prefix(count))
        }
        let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        return (try? JSONSerialization.jsonObject(with: Data(bytes[..<end]))) as? [String: Any] ?? [:]
    }

    func testMalformedLinesGetABadRequestReplyNotACrash() {
        for line in ["garbage", "[1,2]", "{\"op\":\"encode\"}", "{\"x\":[\"zz\"],\"y\":[]}",
                     "{\"op\":\"fly\"}", "{\"op\":\"batch\",\"count\":-1,\"width\":1}", "{"] {
            let r = reply(line)
            XCTAssertEqual(r["ok"] as? Bool, false, line)
            XCTAssertEqual(r["code"] as? String, "bad_request", line)
        }
    }

    func testCodesListsTheEncodingRules() {
        let r = reply("{\"op\":\"codes\"}")
        XCTAssertEqual((r["codes"] as? [String])?.first, "bad_point")
        XCTAssertEqual(r["length"] as? Int, 100)
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
        XCTAssertEqual(reply("{\"points\":[[1,0],[0,1]]}")["code"] as? String, "unsorted_x")
    }

    func testBatchEncodesEachExample() {
        var payload = [UInt8]()
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { payload += $0 } }
        append(Int32(2).littleEndian); append(Int32(1).littleEndian)  // lengths
        for v in [0.0, 1.0, 2.0, 5.0] { append(v.bitPattern.littleEndian) }  // example 0
        for v in [0.0, 0.0, 0.0, 0.0] { append(v.bitPattern.littleEndian) }  // example 1
        let bytes = server.handle(line: "{\"op\":\"batch\",\"count\":2,\"width\":2}") { count in
            count == payload.count ? payload : nil
        }
        let header = bytes.firstIndex(of: UInt8(ascii: "\n"))!
        let body = Array(bytes[(header + 1)...])
        XCTAssertEqual(body.count, 2 + 2 * 200 * 4)
        XCTAssertEqual(body[0], 0)  // encoded
        XCTAssertEqual(body[1], 2)  // codes[1] = too_few_points
        let first = body[2..<6].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        XCTAssertEqual(Float(bitPattern: first), -0.5)
    }

    func testShortBatchPayloadIsAnError() {
        let r = reply("{\"op\":\"batch\",\"count\":3,\"width\":4}", payload: [1, 2, 3])
        XCTAssertEqual(r["code"] as? String, "bad_request")
    }
}
