import Foundation

/// One case's tensor, batch dimension left out; values as float32 (from the fixture's bit patterns).
public struct Tensor: Equatable {
    public var shape: [Int]
    public var bits: [UInt32]

    public init(shape: [Int], bits: [UInt32]) {
        self.shape = shape
        self.bits = bits
    }

    public init(shape: [Int], values: [Float]) {
        self.init(shape: shape, bits: values.map(\.bitPattern))
    }

    public var values: [Float] { bits.map(Float.init(bitPattern:)) }
}

/// A golden model fixture (`fixtures/model_<name>.json`): seeded inputs as float32 bit patterns,
/// torch's outputs, and the provenance that says which model and weights they belong to.
///
/// Reads both layouts the harness writes: the trendsplit kit's (`input_bits`/`output_bits`, one
/// input and one output) and the generic one (`inputs`/`outputs`, name -> nested bit patterns).
public struct Fixture {
    public struct Case {
        public var name: String
        public var inputs: [String: Tensor]
        public var outputs: [String: Tensor]  // torch's, as recorded when the fixture was made
    }

    public var model: String
    public var weightsSHA256: String
    public var seed: Int?
    public var cases: [Case]

    /// The trendsplit layout names neither tensor: these are the model's feature names.
    public static let defaultInputName = "points"
    public static let defaultOutputName = "split_probs"

    public static func read(_ url: URL, inputName: String = defaultInputName,
                            outputName: String = defaultOutputName) throws -> Fixture {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw RecorderError.badFixture(reason: "cannot read \(url.path): \(error.localizedDescription)")
        }
        return try parse(data, inputName: inputName, outputName: outputName)
    }

    public static func parse(_ data: Data, inputName: String = defaultInputName,
                             outputName: String = defaultOutputName) throws -> Fixture {
        let doc: Document
        do {
            doc = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw RecorderError.badFixture(reason: "not a model fixture (\(error))")
        }
        guard doc.kind.hasPrefix("model_"), !doc.cases.isEmpty else {
            throw RecorderError.badFixture(reason: "kind \(doc.kind) with \(doc.cases.count) cases is not a model fixture")
        }
        var cases = [Case]()
        for c in doc.cases {
            var inputs = [String: Tensor](), outputs = [String: Tensor]()
            if let bits = c.input_bits { inputs[inputName] = try bits.tensor(c.name) }
            if let bits = c.output_bits { outputs[outputName] = try bits.tensor(c.name) }
            for (name, bits) in c.inputs ?? [:] { inputs[name] = try bits.tensor(c.name) }
            for (name, bits) in c.outputs ?? [:] { outputs[name] = try bits.tensor(c.name) }
            guard !inputs.isEmpty else { throw RecorderError.badFixture(reason: "case \(c.name) has no inputs") }
            cases.append(Case(name: c.name, inputs: inputs, outputs: outputs))
        }
        let first = cases[0].inputs.mapValues(\.shape)
        for c in cases where c.inputs.mapValues(\.shape) != first {
            throw RecorderError.badFixture(reason: "case \(c.name)'s inputs are shaped unlike the first case's")
        }
        return Fixture(model: doc.provenance.model, weightsSHA256: doc.provenance.weights_sha256,
                       seed: doc.provenance.generator_seed, cases: cases)
    }

    /// Input names in the order the hash takes them (sorted by code point, as Python's `sorted`).
    public var inputNames: [String] {
        cases[0].inputs.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
    }

    /// sha256 of the input feeds, as `harness.results.feeds_sha256`: per input by name,
    /// `"<name> float32 <cases,d1,...>\n"`, then every case's float32 little-endian bytes.
    public func inputsSHA256() -> String {
        var hasher = SHA256()
        for name in inputNames {
            let shape = [cases.count] + cases[0].inputs[name]!.shape
            hasher.update("\(name) float32 \(shape.map(String.init).joined(separator: ","))\n")
            for c in cases {
                hasher.update(littleEndianBytes(c.inputs[name]!.bits))
            }
        }
        return hasher.hexDigest()
    }

    // The file as written by the harness; unknown keys are ignored.
    struct Document: Decodable {
        struct Provenance: Decodable {
            let model: String
            let weights_sha256: String
            let generator_seed: Int?
        }

        struct CaseDocument: Decodable {
            let name: String
            let input_bits: NestedBits?
            let output_bits: NestedBits?
            let inputs: [String: NestedBits]?
            let outputs: [String: NestedBits]?
        }

        let kind: String
        let provenance: Provenance
        let cases: [CaseDocument]
    }
}

/// Nested JSON arrays of uint32 bit patterns, any depth, every level rectangular.
indirect enum NestedBits: Decodable {
    case leaf(UInt32)
    case list([NestedBits])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(UInt32.self) {
            self = .leaf(value)
        } else {
            self = .list(try container.decode([NestedBits].self))
        }
    }

    func tensor(_ where_: String) throws -> Tensor {
        switch self {
        case .leaf(let v):
            return Tensor(shape: [], bits: [v])
        case .list(let items):
            let parts = try items.map { try $0.tensor(where_) }
            guard let shape = parts.first?.shape else { return Tensor(shape: [0], bits: []) }
            guard parts.allSatisfy({ $0.shape == shape }) else {
                throw RecorderError.badFixture(reason: "case \(where_): a nested list is not rectangular")
            }
            return Tensor(shape: [items.count] + shape, bits: parts.flatMap(\.bits))
        }
    }
}

func littleEndianBytes(_ words: [UInt32]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(words.count * 4)
    for w in words {
        out.append(UInt8(truncatingIfNeeded: w))
        out.append(UInt8(truncatingIfNeeded: w >> 8))
        out.append(UInt8(truncatingIfNeeded: w >> 16))
        out.append(UInt8(truncatingIfNeeded: w >> 24))
    }
    return out
}
