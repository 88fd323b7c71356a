import Foundation

/// The weights a CoreML model holds, hashed as they are stored: what the recorder writes as
/// `loaded_weights_sha256`, so a results file says which weights ran rather than which the
/// fixture expected. The definition is `harness.mlpackage.weights_sha256`'s:
///
/// for each file under the `weights` folder beside the model's spec (`@model_path/weights`:
/// the root of a compiled `.mlmodelc`; in an `.mlpackage`, the folder of the root model entry its
/// `Manifest.json` names), sorted by its `/`-separated path relative to that folder (by code
/// point), the line `"<path> <sha256 of its bytes>\n"`; the hash is the sha256 of those lines.
/// Anything there but regular files and folders (a symlink, a FIFO) is refused.
/// Xcode copies the weight files into the `.mlmodelc` it compiles, so the package the harness
/// exported and the compiled model a device loads hash alike. (Constants small enough to sit in
/// the program itself are not in these files.)
///
/// Foundation only: builds and is tested on Linux against packages the Python harness exported.
public enum ModelWeights {
    public static let folderName = "weights"
    static let chunk = 1 << 20

    /// The weights hash of a compiled model (`.mlmodelc`) or a package (`.mlpackage`) folder.
    public static func sha256(model url: URL) throws -> String {
        let folder = try specFolder(url).appendingPathComponent(folderName)
        var lines = SHA256()
        for path in try regularFiles(under: folder, model: url) {
            lines.update("\(path) \(try fileSHA256(folder.appendingPathComponent(path), model: url))\n")
        }
        return lines.hexDigest()
    }

    /// Where `@model_path` points: the compiled model itself, or a package's root model entry's folder.
    static func specFolder(_ url: URL) throws -> URL {
        let manifest = url.appendingPathComponent("Manifest.json")
        guard FileManager.default.fileExists(atPath: manifest.path) else { return url }
        guard let data = try? Data(contentsOf: manifest),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let root = doc["rootModelIdentifier"] as? String,
              let entry = (doc["itemInfoEntries"] as? [String: Any])?[root] as? [String: Any],
              let path = entry["path"] as? String, !path.hasPrefix("/"), !path.split(separator: "/").contains("..")
        else {
            throw RecorderError.badModel(reason: "\(url.lastPathComponent): Manifest.json names no root model inside the package")
        }
        return url.appendingPathComponent("Data").appendingPathComponent(path).deletingLastPathComponent()
    }

    /// The regular files under `folder`, as `/`-separated relative paths sorted by code point.
    /// Anything but regular files and folders is refused: a model holds files.
    static func regularFiles(under folder: URL, model: URL) throws -> [String] {
        let files = FileManager.default
        var isFolder: ObjCBool = false
        guard files.fileExists(atPath: folder.path, isDirectory: &isFolder) else { return [] }
        let own = try files.attributesOfItem(atPath: folder.path)[.type] as? FileAttributeType
        guard own != .typeSymbolicLink else {
            throw RecorderError.badModel(reason: "\(model.lastPathComponent): its weights folder is a symlink")
        }
        guard isFolder.boolValue else { return [] }
        guard let walker = files.enumerator(atPath: folder.path) else {
            throw RecorderError.badModel(reason: "\(model.lastPathComponent): cannot list its weights folder")
        }
        var out = [String]()
        for case let path as String in walker {
            let type = try files.attributesOfItem(atPath: folder.appendingPathComponent(path).path)[.type]
                as? FileAttributeType
            if type == .typeDirectory { continue }
            guard type == .typeRegular else {  // a symlink, a FIFO, a device: a model holds files
                throw RecorderError.badModel(reason: "\(model.lastPathComponent): weights/\(path) is not a regular file")
            }
            out.append(path)
        }
        return out.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
    }

    static func fileSHA256(_ url: URL, model: URL) throws -> String {
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            var hasher = SHA256()
            while let data = try handle.read(upToCount: chunk), !data.isEmpty {
                hasher.update(data)
            }
            return hasher.hexDigest()
        } catch {
            throw RecorderError.badModel(reason: "\(model.lastPathComponent): cannot read \(url.lastPathComponent): \(error)")
        }
    }
}
