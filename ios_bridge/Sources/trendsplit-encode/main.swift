// Serves TrendSplitEncoder over stdin/stdout for the Python harness (see EncodeServer).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TrendSplitWire

let server = EncodeServer()

func readExactly(_ count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let got = buffer.withUnsafeMutableBytes { fread($0.baseAddress! + filled, 1, count - filled, stdin) }
        if got == 0 { return nil }
        filled += got
    }
    return buffer
}

while let line = readLine(strippingNewline: true) {
    if line.isEmpty { continue }
    let reply = server.handle(line: line, readPayload: readExactly)
    _ = reply.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stdout) }
    fflush(stdout)
}
