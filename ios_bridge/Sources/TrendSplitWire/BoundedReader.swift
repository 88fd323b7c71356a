/// Lines and fixed-size payloads from one byte stream, never holding more than the caller's cap.
///
/// `readLine()` from the standard library buffers a whole line however long it is (a 100 MB
/// line peaked at 2.2 GB); this reader keeps at most `max` bytes of a line and discards the
/// rest up to the newline. Lines and batch payloads share one buffer, so bytes read ahead
/// past a header are the payload's first bytes.
public final class BoundedReader {
    /// One request line: its bytes, or the head of a line longer than the cap.
    public enum Line: Equatable {
        case line([UInt8])
        case tooLong(head: [UInt8], length: Int)
        case end
    }

    /// Fills the buffer it is given; returns the byte count, 0 at end of input.
    public typealias Source = (UnsafeMutableRawBufferPointer) -> Int

    private let source: Source
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var finished = false
    static let headBytes = 80

    public init(chunk: Int = 1 << 16, source: @escaping Source) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: max(chunk, 1))
    }

    /// A reader over bytes in memory (tests).
    public convenience init(bytes: [UInt8], chunk: Int = 1 << 16) {
        var offset = 0
        self.init(chunk: chunk) { out in
            let n = min(out.count, bytes.count - offset)
            bytes.withUnsafeBytes { src in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + n)]))
            }
            offset += n
            return n
        }
    }

    /// Refill after the buffered bytes are used up; false at end of input.
    private func fill() -> Bool {
        if finished { return false }
        start = 0
        end = buffer.withUnsafeMutableBytes { source($0) }
        if end <= 0 { end = 0; finished = true }
        return end > 0
    }

    /// The next line without its "\n" (or "\r\n"); at most `max` bytes are kept.
    public func readLine(max: Int) -> Line {
        var line = [UInt8]()
        var length = 0
        var sawAny = false
        while true {
            if start == end && !fill() { break }
            sawAny = true
            let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n"))
            let stop = newline ?? end
            let keep = Swift.max(0, Swift.min(stop - start, max + 1 - line.count))
            line += buffer[start..<(start + keep)]
            length += stop - start
            start = newline.map { $0 + 1 } ?? end
            if newline != nil { break }
        }
        if !sawAny { return .end }
        if line.last == UInt8(ascii: "\r") && length <= max + 1 { line.removeLast(); length -= 1 }
        if length > max { return .tooLong(head: Array(line.prefix(Self.headBytes)), length: length) }
        return .line(line)
    }

    /// Exactly `count` bytes, or nil if the input ends first.
    public func read(exactly count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            if start == end && !fill() { return nil }
            let n = Swift.min(end - start, count - filled)
            out.withUnsafeMutableBytes { dst in
                buffer.withUnsafeBytes { src in
                    (dst.baseAddress! + filled).copyMemory(from: src.baseAddress! + start, byteCount: n)
                }
            }
            start += n
            filled += n
        }
        return out
    }
}
