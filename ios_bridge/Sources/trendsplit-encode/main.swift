// Serves TrendSplitEncoder over stdin/stdout for the Python harness (see EncodeServer).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TrendSplitWire

/// stdin through read(2): the bounded reader does all buffering, so nothing else may read stdin.
let reader = BoundedReader { out in
    while true {
        let n = read(0, out.baseAddress, out.count)
        if n >= 0 { return n }
        if errno != EINTR { return 0 }  // an unreadable stdin ends the session like EOF
    }
}

EncodeServer().serve(reader) { reply in
    _ = reply.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stdout) }
    fflush(stdout)
}
