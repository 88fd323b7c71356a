/// Caps on what one request may make the server hold, checked before anything is allocated,
/// so the process's memory stays bounded whatever arrives on stdin.
///
/// Sized from the harness's real use with room to spare: `trendsplit/differential.py` sends
/// 20,000 series padded to width 150 per batch, and a JSON encode request of 150 points
/// in hex is about 6 KB. `{"op": "codes"}` reports them so the Python client checks the
/// same numbers before it sends (`trendsplit/swift_encoder.py`, `BatchLimits`).
public struct WireLimits: Equatable, Sendable {
    /// Series per batch. The reply holds count * (1 + 400 C) bytes: 80 MB at the cap for v1, 160 MB for v2, 280 MB for v3.
    public var count: Int
    /// Padded points per series (the encoder takes at most 100; width only pads).
    public var width: Int
    /// count * width points per batch: at most 16 bytes each, read one series at a time.
    public var cells: Int
    /// Bytes in one request line, newline excluded; longer lines are discarded unbuffered.
    public var line: Int

    public init(count: Int, width: Int, cells: Int, line: Int) {
        self.count = count
        self.width = width
        self.cells = cells
        self.line = line
    }

    public static let standard = WireLimits(count: 100_000, width: 4_096, cells: 1 << 24, line: 1 << 20)

    /// Why a batch header of `count` series of `width` points is refused, or nil if it fits.
    public func refusal(count: Int, width: Int) -> String? {
        if count < 0 || width < 0 { return "count and width must be >= 0, got count \(count), width \(width)" }
        if count > self.count { return "count \(count) exceeds the cap of \(self.count) series per batch" }
        if width > self.width { return "width \(width) exceeds the cap of \(self.width) points per series" }
        let (cells, overflow) = count.multipliedReportingOverflow(by: width)
        if overflow || cells > self.cells {
            return "count x width = \(count) x \(width) exceeds the cap of \(self.cells) points per batch"
        }
        return nil
    }

    /// The caps as a JSON object, for the `codes` reply.
    var json: String { "{\"count\":\(count),\"width\":\(width),\"cells\":\(cells),\"line\":\(line)}" }
}
