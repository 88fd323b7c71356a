// A sketch, not a target of the package: ExecuTorch's iOS package (prebuilt xcframeworks fetched by
// SwiftPM) cannot be built here, so CI checks this file with `swiftc -parse` only
// (tests/harness/test_executorch.py). Copy it into an app's test or debug target that links
// `executorch` and `backend_xnnpack` beside `TrendSplitRecorder`.
//
// It records a device's numbers for an ExecuTorch program exactly as `CoreMLRecorder` does for a
// CoreML model: every case of a golden fixture through the `.pte` the app ships, written as a results
// file the harness compares on Linux. The label is `executorch@<precision>[<delegate>]`
// (`executorch@int8[xnnpack]`), and `model.loaded_weights_sha256` is the sha256 of the `.pte` file's
// bytes, measured here: `python -m harness compare` refuses it unless it is the export's program of
// that delegate and precision (`cases.json`, `model.executorch_programs_sha256`).
import ExecuTorch
import Foundation
import TrendSplitRecorder  // its `Tensor` is the fixture's: ExecuTorch's is named in full

public enum ExecuTorchRecorder {
    /// `delegate` and `precision` name the program as the harness's export did: `xnnpack` or `portable`,
    /// `fp32` or `int8` (its file name says them: `trendsplit-xnnpack-int8.pte`). `outputNames`: the model's
    /// outputs in the order its forward returns them (a program's outputs have no names).
    @discardableResult
    public static func record(fixture fixtureURL: URL, program programURL: URL, delegate: String, precision: String,
                              outputNames: [String], to output: URL,
                              extra: [String: String] = [:]) throws -> ResultsFile {
        let fixture = try Fixture.read(fixtureURL)
        let loadedProgram = try programSHA256(programURL)
        let module = Module(filePath: programURL.path)
        do {
            try module.load("forward")
        } catch {
            throw RecorderError.badModel(reason: "\(programURL.lastPathComponent): \(error.localizedDescription)")
        }
        let start = Date()
        var outputs = [[String: [Float]]]()
        for c in fixture.cases {
            // One case a call, batch 1: the fixture's inputs in the order the model declares them.
            let inputs = try fixture.inputNames.map { name -> ExecuTorch.Tensor<Float> in
                guard let input = c.inputs[name] else {
                    throw RecorderError.badFixture(reason: "case \(c.name) has no \(name) input")
                }
                return ExecuTorch.Tensor<Float>(input.values, shape: [1] + input.shape)
            }
            do {
                let values = try module.forward(inputs)
                guard values.count == outputNames.count else {
                    throw RecorderError.badOutputs(reason: "\(values.count) outputs for \(outputNames.count) names")
                }
                var byName = [String: [Float]]()
                for (name, value) in zip(outputNames, values) {
                    let tensor: ExecuTorch.Tensor<Float> = try value.tensor()
                    byName[name] = tensor.scalars()
                }
                outputs.append(byName)
            } catch let error as RecorderError {
                throw error
            } catch {
                throw RecorderError.predictionFailed(case: c.name, reason: "\(error)")
            }
        }
        let results = try ResultsFile.recording(
            fixture: fixture, name: "executorch", precision: precision, option: delegate,
            loadedWeightsSHA256: loadedProgram, outputs: outputs, seconds: Date().timeIntervalSince(start),
            provenance: .current(extra: extra))
        try results.write(to: output)
        return results
    }

    /// The sha256 of the program file's bytes, as the harness's manifest hashes a `.pte`.
    public static func programSHA256(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RecorderError.badModel(reason: "cannot read \(url.lastPathComponent)")
        }
        var digest = SHA256()
        digest.update(data)
        return digest.hexDigest()
    }
}
