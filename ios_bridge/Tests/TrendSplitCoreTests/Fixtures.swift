import Foundation

/// The golden fixtures in the repository's `fixtures/` folder, written by
/// `python -m trendsplit fixtures regenerate` and shared with the Python tests.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    struct EncodingCase: Decodable {
        let name: String
        let points: [[String]]
        let x_bits: [UInt32]?
        let y_bits: [UInt32]?
        let dy_bits: [UInt32]?  // encodings v2 and v3
        let dx_bits: [UInt32]?
        let dyn_bits: [UInt32]?  // encoding v3 only
        let nu_bits: [UInt32]?
        let res_bits: [UInt32]?
        let post_bits: [UInt32]?  // encoding v4 only
        let error: String?

        /// The expected channels in order (2 for v1, 4 for v2, 7 for v3, 8 for v4), or nil for an error case.
        var channels: [[UInt32]]? {
            guard let x_bits, let y_bits else { return nil }
            guard let dy_bits, let dx_bits else { return [x_bits, y_bits] }
            if let dyn_bits, let nu_bits, let res_bits {
                if let post_bits { return [x_bits, y_bits, dy_bits, dx_bits, dyn_bits, nu_bits, res_bits, post_bits] }
                return [x_bits, y_bits, dy_bits, dx_bits, dyn_bits, nu_bits, res_bits]
            }
            return [x_bits, y_bits, dy_bits, dx_bits]
        }
    }

    /// Encoding version -> its golden file (v1's name predates v2 and stays).
    static let encodingFiles = [1: "encoding_cases.json", 2: "encoding_cases_v2.json", 3: "encoding_cases_v3.json",
                                4: "encoding_cases_v4.json"]

    struct ModelCase: Decodable {
        let name: String
        let points: [[String]]
        let input_bits: [[UInt32]]
        let output_bits: [UInt32]
        let splits: [Int]
    }

    struct File<Case: Decodable>: Decodable {
        let kind: String
        let cases: [Case]
    }

    /// The threshold a model fixture's splits were decided at (its spec's, as the export's
    /// metadata declares it when it is not 0.5).
    static func threshold(_ name: String) throws -> Double {
        struct Provenance: Decodable { let threshold: Double }
        struct File: Decodable { let provenance: Provenance }
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try JSONDecoder().decode(File.self, from: data).provenance.threshold
    }

    static func load<Case: Decodable>(_ name: String, as _: Case.Type) throws -> [Case] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try JSONDecoder().decode(File<Case>.self, from: data).cases
    }

    /// C99 hex floats (`float.hex()` in Python), "nan", "inf", "-inf": exact binary64.
    static func doubles(_ point: [String]) -> [Double] {
        point.map { text in
            guard let value = Double(text) else { fatalError("not a float: \(text)") }
            return value
        }
    }
}
