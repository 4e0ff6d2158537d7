import ArgumentParser
import Foundation
import Kernels

/// `qwen3-embed bench-kernels`: throughput of the linear-layer matrix multiplications alone, at the
/// Qwen3-Embedding-0.6B shapes, for every weight format (fp32 and bf16 panels, ggml block quantization).
///
/// One "layer" is the four products of a decoder layer: q|k|v (4096 × 1024), o (1024 × 2048),
/// gate|up (6144 × 1024) and down (1024 × 3072). Several copies of the weights are cycled so that, as
/// in a 28-layer forward pass, every product reads its weights from memory rather than from the L3
/// cache. GFLOP/s counts 2·m·rows·columns per product; GB/s is weight bytes streamed per second (the
/// figure that matters when m is small).
struct KernelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure GFLOP/s and GB/s of the fp32, bf16 and quantized GEMMs at the 0.6B layer shapes.")

    @Option(help: "Activation rows (tokens per product), comma-separated.")
    var rows: String = "1,16,128,1024"

    @Option(help: "Weight formats, comma-separated: fp32, bf16, \(QuantizedKernelName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kernels: String = "fp32,bf16,q8_0,q4_0,q4_k,q6_k"

    @Option(help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(help: "Minimum seconds measured per (format, rows) cell.")
    var seconds: Double = 1

    @Flag(help: "Print one JSON array instead of a table.")
    var json = false

    /// (output rows, input columns) of the four products of one layer.
    static let shapes: [(rows: Int, columns: Int)] = [(4096, 1024), (1024, 2048), (6144, 1024), (1024, 3072)]
    /// Weights cycled per format: at least this many bytes, so the L3 cache cannot hold them.
    static let minimumWorkingSet = 128 << 20

    /// The largest `--rows` value: activations and outputs of that many rows at the widest shape take
    /// about 400 MB, already far past where the measured rates stop changing.
    static let maximumRows = 16_384
    /// The longest `--seconds` per cell (an hour), so a typo cannot start a run that never ends.
    static let maximumSeconds = 3600.0

    func validate() throws {
        guard let counts = parsedRows, !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--rows must be positive integers separated by commas")
        }
        guard counts.allSatisfy({ $0 <= Self.maximumRows }) else {
            throw ValidationError("--rows values must be at most \(Self.maximumRows), got \(counts.max()!)")
        }
        guard let formats = parsedKernels, !formats.isEmpty else {
            throw ValidationError("--kernels must name formats from: fp32, bf16, \(QuantizedKernelName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let threads, !(1...KernelEnvironment.maximumThreads).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(KernelEnvironment.maximumThreads), got \(threads)")
        }
        guard seconds > 0, seconds <= Self.maximumSeconds else {
            throw ValidationError("--seconds must be greater than 0 and at most \(Int(Self.maximumSeconds))")
        }
    }

    var parsedRows: [Int]? {
        let values = rows.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return values.contains { $0 == nil } ? nil : values.compactMap { $0 }
    }

    var parsedKernels: [Format]? {
        let values = kernels.split(separator: ",").map { Format(name: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
        return values.contains { $0 == nil } ? nil : values.compactMap { $0 }
    }

    func run() throws {
        let pool = threads.map(ComputePool.init(width:)) ?? .shared
        // Read once: `CPUFeatures.usable` consults the environment, which costs microseconds per call.
        let features = CPUFeatures.usable
        let counts = parsedRows!
        let maxRows = counts.max()!
        let parameters = Self.shapes.reduce(0) { $0 + $1.rows * $1.columns }
        var generator = SeededGenerator(seed: 7)
        let input = (0..<(maxRows * 3072)).map { _ in generator.nextSigned() }
        let output = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * 6144)
        defer { output.deallocate() }
        var results: [String] = []
        if !json {
            try printOutput("Qwen3-Embedding-0.6B layer products (q|k|v, o, gate|up, down: \(parameters) weights), \(pool.width) threads, CPU: \(features)")
            try printOutput("format  kernel             m   ms/layer   GFLOP/s     GB/s   28 layers   weight MB/layer")
        }
        for format in parsedKernels! {
            // Build one layer to learn its size, then enough copies to defeat the cache.
            var layers = [format.makeLayer(&generator)]
            let layerBytes = layers[0].reduce(0) { $0 + $1.byteCount }
            let copies = min(28, max(2, (Self.minimumWorkingSet + layerBytes - 1) / layerBytes))
            while layers.count < copies { layers.append(format.makeLayer(&generator)) }
            let precision = format.precision
            let path = layers[0][0].kernel(for: precision, features: features)
            for m in counts {
                var times: [Double] = []
                var round = 0
                let start = DispatchTime.now().uptimeNanoseconds
                // One warm-up round, then at least three timed ones and `seconds` in total.
                while times.count < 4 || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds {
                    let layer = layers[round % copies]
                    round += 1
                    let before = DispatchTime.now().uptimeNanoseconds
                    input.withUnsafeBufferPointer { input in
                        for matrix in layer {
                            matrix.multiply(input.baseAddress!, rows: m, into: output, precision: precision,
                                            features: features, pool: pool)
                        }
                    }
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - before) / 1e9)
                }
                times.removeFirst()
                times.sort()
                let seconds = times[times.count / 2]
                let gflops = 2 * Double(m) * Double(parameters) / seconds / 1e9
                let gbps = Double(layerBytes) / seconds / 1e9
                if json {
                    results.append("{\"format\": \"\(format.name)\", \"kernel\": \"\(path.rawValue)\", \"m\": \(m), "
                                   + "\"ms_per_layer\": \(rounded(seconds * 1000)), \"gflops\": \(rounded(gflops)), "
                                   + "\"gbps\": \(rounded(gbps)), \"bytes_per_layer\": \(layerBytes), \"threads\": \(pool.width)}")
                } else {
                    try printOutput(format.name.padding(toLength: 7, withPad: " ", startingAt: 0) + " "
                          + path.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                          + String(format: " %5d %10.3f %9.1f %8.2f %8.1f ms %10.2f", m, seconds * 1000, gflops, gbps,
                                   seconds * 28_000, Double(layerBytes) / 1e6))
                }
            }
        }
        if json { try printOutput("[" + results.joined(separator: ", ") + "]") }
    }

    func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

extension KernelBenchCommand {
    /// The ggml quantization types the benchmark can build (their `QuantizedMatrix.Layout`s).
    enum QuantizedKernelName: String, CaseIterable {
        case q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k

        var layout: QuantizedMatrix.Layout {
            switch self {
            case .q8_0: .q8_0
            case .q4_0: .q4_0
            case .q4_1: .q4_1
            case .q5_0: .q5_0
            case .q5_1: .q5_1
            case .q2_k: .q2_K
            case .q3_k: .q3_K
            case .q4_k: .q4_K
            case .q5_k: .q5_K
            case .q6_k: .q6_K
            }
        }

        /// K-quants scale each sub-block by an fp16 super-block scale times a small integer (not an fp16
        /// value in general, so they keep fp32 scales, as real files do); the others have fp16 scales.
        var isKQuant: Bool { rawValue.hasSuffix("_k") }
    }

    /// A weight format under test.
    enum Format {
        case float32, bfloat16
        case quantized(QuantizedKernelName)

        init?(name: String) {
            switch name {
            case "fp32", "f32": self = .float32
            case "bf16": self = .bfloat16
            default:
                guard let quantized = QuantizedKernelName(rawValue: name) else { return nil }
                self = .quantized(quantized)
            }
        }

        var name: String {
            switch self {
            case .float32: "fp32"
            case .bfloat16: "bf16"
            case .quantized(let kind): kind.rawValue
            }
        }

        /// fp32 panels run in exact mode, bf16 panels in fast mode (`vdpbf16ps`); quantized ignore it.
        var precision: Precision {
            if case .float32 = self { return .float32 }
            return .bfloat16
        }

        /// The four matrices of one layer, random weights.
        func makeLayer(_ generator: inout SeededGenerator) -> [any LinearLayer] {
            KernelBenchCommand.shapes.map { shape -> any LinearLayer in
                switch self {
                case .float32, .bfloat16:
                    let panels: PackedMatrix.Format = if case .float32 = self { .float32 } else { .bfloat16Pairs }
                    return PackedMatrix(rows: shape.rows, columns: shape.columns, format: panels) { _, row in
                        for column in 0..<shape.columns { row[column] = generator.nextSigned() * 0.05 }
                    }
                case .quantized(let kind):
                    let layout = kind.layout
                    let codeMask = UInt64((1 << layout.bits) - 1)
                    return QuantizedMatrix(rows: shape.rows, columns: shape.columns, layout: layout) { _, codes, scales, offsets in
                        for column in 0..<shape.columns { codes[column] = UInt8(generator.next() & codeMask) }
                        for block in 0..<(shape.columns / layout.subBlockSize) {
                            // fp16 base scale in [2^-10, 2^-9): exact in fp16; K-quants multiply it by a 6-bit integer.
                            let base = Float(1024 + generator.next() % 1024) / Float(1 << 20)
                            scales[block] = kind.isKQuant ? base * Float(1 + generator.next() % 63) : base
                            offsets[block] = kind.isKQuant ? -base * Float(generator.next() % 64) : -base * 8
                        }
                    }
                }
            }
        }
    }
}

extension SeededGenerator {
    /// Uniform in [-1, 1), for benchmark weights and activations.
    mutating func nextSigned() -> Float {
        Float(Int64(next() >> 40) - (1 << 23)) / Float(1 << 23)
    }
}
