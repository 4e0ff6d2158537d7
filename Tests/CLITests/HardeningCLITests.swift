import Foundation
import Qwen3Embedding
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built `qwen3-embed` binary under hostile conditions (issue 13): closed or full standard streams,
/// FIFOs where model files should be, outputs that would destroy inputs, malformed environment, sizes
/// that cannot be allocated, and hostile JSON Lines. Every case must end in a clean exit with a one-line
/// error, never a trap, a hang or a damaged file.
@Suite struct HardeningCLITests {
    static let embeddingModel = CLITests.embeddingModel
    static let quantModel = CLITests.fixtures.appendingPathComponent("tiny-qwen3-quant").path

    struct Result {
        let status: Int32
        let exitedNormally: Bool
        let stdout: String
        let stderr: String
        var errorLines: [Substring] { stderr.split(separator: "\n").filter { $0.contains("error:") } }
    }

    /// Runs the binary through `/bin/sh -c '<redirections>'`, so stdin/stdout/stderr can be closed
    /// (`<&-`, `>&-`, `2>&-`) or pointed at `/dev/full`, which Foundation's `Process` cannot express.
    /// Streams not redirected are pipes read here.
    func run(_ arguments: [String], redirections: String = "", environment: [String: String] = [:],
             stdin: String? = nil, closeStdoutReader: Bool = false) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" \"$@\" \(redirections)", CLITests.binary.path] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        if closeStdoutReader {
            // No reader at any time: every write to stdout is EPIPE (SIGPIPE if not ignored).
            try out.fileHandleForReading.close()
        }
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = closeStdoutReader ? Data() : out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, exitedNormally: process.terminationReason == .exit,
                      stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// A fresh scratch directory, removed by the caller.
    func scratchDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hardening-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A model directory of symbolic links to `model`'s files (cheap), in a new scratch directory.
    func linkedCopy(of model: String) throws -> (scratch: String, model: String) {
        let scratch = try scratchDirectory()
        let copy = scratch + "/model"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: model) {
            try FileManager.default.createSymbolicLink(atPath: "\(copy)/\(name)", withDestinationPath: "\(model)/\(name)")
        }
        return (scratch, copy)
    }

    /// The exit of a command that failed cleanly with one error line naming `fragment`.
    func expectCleanFailure(_ result: Result, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.exitedNormally, "terminated by a signal: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.status != 0, sourceLocation: sourceLocation)
        #expect(result.errorLines.count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    // MARK: C4, C5, C6: standard streams

    @Test(arguments: [
        (["embed", "--model", "MODEL", "hello"], ">&-", "Bad file descriptor"),
        (["embed", "--model", "MODEL", "hello"], ">/dev/full", "No space left on device"),
        (["tokenize", "--model", "MODEL", "hello"], ">/dev/full", "No space left on device"),
        (["similarity", "--model", "MODEL", "--query", "q", "a", "b"], ">/dev/full", "No space left on device"),
        (["similarity", "--model", "MODEL", "--query", "q", "a", "b"], ">&-", "Bad file descriptor"),
        (["bench", "--model", "MODEL", "--tokenizer", "--iterations", "1"], ">/dev/full", "No space left on device"),
        (["--help"], ">/dev/full", "No space left on device"),
        (["embed", "--help"], ">&-", "Bad file descriptor"),
    ])
    func closedOrFullStdoutIsAOneLineError(arguments: [String], redirection: String, reason: String) throws {
        let resolved = arguments.map { $0 == "MODEL" ? Self.embeddingModel : $0 }
        let result = try run(resolved, redirections: redirection)
        expectCleanFailure(result, mentioning: "cannot write to standard output: \(reason)")
    }

    @Test func stdoutWithoutAReaderIsABrokenPipeErrorNotASignal() throws {
        let result = try run(["tokenize", "--model", Self.embeddingModel, "hello", "world"], closeStdoutReader: true)
        expectCleanFailure(result, mentioning: "cannot write to standard output: Broken pipe")
    }

    @Test func closedStdinIsAOneLineError() throws {
        let result = try run(["embed", "--model", Self.embeddingModel, "--input", "-"], redirections: "<&-")
        expectCleanFailure(result, mentioning: "cannot read standard input: Bad file descriptor")
        #expect(result.stdout.isEmpty)
    }

    /// With stderr closed there is nowhere to say why, but the status still says the command failed.
    @Test(arguments: ["2>&-", ">&- 2>&-", ">/dev/full 2>&-"])
    func closedStderrFailsSilentlyWithoutATrap(redirections: String) throws {
        let failing = try run(["embed", "--model", "/nonexistent", "x"], redirections: redirections)
        #expect(failing.exitedNormally)
        #expect(failing.status == 1)
        #expect(failing.stderr.isEmpty)
        if redirections != "2>&-" {
            // Output lost to stdout: also a failure, also no trap.
            let lost = try run(["embed", "--model", Self.embeddingModel, "x"], redirections: redirections)
            #expect(lost.exitedNormally)
            #expect(lost.status == 1)
        }
        let succeeding = try run(["tokenize", "--model", Self.embeddingModel, "x"], redirections: "2>&-")
        #expect(succeeding.status == 0)
        #expect(succeeding.stdout.contains("\"ids\""))
    }

    // MARK: Environment

    @Test(arguments: [
        ("QWEN3_THREADS", "0", "QWEN3_THREADS must be a positive integer, got '0'"),
        ("QWEN3_THREADS", "-1", "QWEN3_THREADS must be a positive integer, got '-1'"),
        ("QWEN3_THREADS", "abc", "QWEN3_THREADS must be a positive integer, got 'abc'"),
        ("QWEN3_THREADS", "99999999", "QWEN3_THREADS must be at most 4096, got '99999999'"),
        ("QWEN3_KERNEL", "bogus", "QWEN3_KERNEL must be auto or portable, got 'bogus'"),
    ])
    func malformedKernelEnvironmentIsAnError(name: String, value: String, message: String) throws {
        let result = try run(["embed", "--model", Self.embeddingModel, "x"], environment: [name: value])
        expectCleanFailure(result, mentioning: message)
        #expect(result.stdout.isEmpty)
    }

    @Test(arguments: [("QWEN3_THREADS", "1"), ("QWEN3_THREADS", ""), ("QWEN3_KERNEL", "auto"), ("QWEN3_KERNEL", "portable")])
    func validKernelEnvironmentIsAccepted(name: String, value: String) throws {
        let result = try run(["embed", "--model", Self.embeddingModel, "x"], environment: [name: value])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"embedding\""))
    }

    // MARK: C7: sizes checked before allocating

    @Test(arguments: [
        (["bench", "--model", "MODEL", "--batch", "100000", "--seq-len", "100000"], "--batch × --seq-len must be at most 65536 tokens per pass"),
        (["bench", "--model", "MODEL", "--batch", "9223372036854775807", "--seq-len", "2"], "--batch × --seq-len must be at most 65536"),
        (["bench", "--model", "MODEL", "--threads", "100000"], "--threads must be between 1 and 4096"),
        (["bench", "--model", "QUANT", "--batch", "1", "--seq-len", "600"], "exceeds the model's context of 512 tokens"),
        (["bench-kernels", "--rows", "10000000"], "--rows values must be at most 16384"),
        (["bench-kernels", "--seconds", "1e300"], "--seconds must be greater than 0 and at most 3600"),
    ])
    func oversizedBenchmarksAreRefusedBeforeAllocating(arguments: [String], message: String) throws {
        let resolved = arguments.map { $0 == "MODEL" ? Self.embeddingModel : $0 == "QUANT" ? Self.quantModel : $0 }
        expectCleanFailure(try run(resolved), mentioning: message)
    }

    // MARK: H3: FIFOs and devices as model files

    @Test(arguments: ["--model", "config.json", "tokenizer.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json"])
    func aFIFOWhereAModelFileShouldBeIsRefusedWithoutBlocking(replaced: String) throws {
        let (scratch, model) = try linkedCopy(of: Self.embeddingModel)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fifo = replaced == "--model" ? "\(scratch)/model.fifo" : "\(model)/\(replaced)"
        try? FileManager.default.removeItem(atPath: fifo)
        #expect(mkfifo(fifo, 0o644) == 0)
        let modelArgument = replaced == "--model" ? fifo : model
        // Should a regression block on the FIFO, a writer opened after a long while unblocks it, and
        // the message check then fails: the test never hangs, and never depends on speed to pass.
        let watchdog = FIFOWatchdog(path: fifo)
        defer { watchdog.stop() }
        for command in [["embed", "--model", modelArgument, "x"], ["tokenize", "--model", modelArgument, "x"]] {
            let result = try run(command)
            expectCleanFailure(result, mentioning: "a FIFO")
            #expect(result.stderr.contains(fifo), "\(result.stderr)")
        }
    }

    @Test func aDeviceAsTheModelIsRefused() throws {
        let result = try run(["embed", "--model", "/dev/null", "x"])
        expectCleanFailure(result, mentioning: "not a regular file (a character device)")
    }

    // MARK: Writers never destroy their inputs or device nodes

    /// A real copy of the quant fixture (the test may overwrite it if the protection regresses).
    func copiedQuantModel() throws -> (scratch: String, model: String) {
        let scratch = try scratchDirectory()
        try FileManager.default.copyItem(atPath: Self.quantModel, toPath: scratch + "/model")
        return (scratch, scratch + "/model")
    }

    @Test(arguments: ["shard", "config", "symlink", "hardlink"])
    func quantizeRefusesToOverwriteItsOwnInput(via route: String) throws {
        let (scratch, model) = try copiedQuantModel()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let shard = model + "/model.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: shard))
        let output: String
        switch route {
        case "shard": output = shard
        case "config": output = model + "/config.json"
        case "symlink":
            output = scratch + "/out.gguf"
            try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: shard)
        default:
            output = scratch + "/out.gguf"
            #expect(link(shard, output) == 0)
        }
        let result = try run(["quantize", "--model", model, "--type", "q8_0", "--output", output])
        expectCleanFailure(result, mentioning: "is the input file")
        #expect(try Data(contentsOf: URL(fileURLWithPath: shard)) == original)
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"))
    }

    @Test func quantizeLeavesANonRegularDestinationAlone() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let fifo = scratch + "/out.gguf"
        #expect(mkfifo(fifo, 0o644) == 0)
        let result = try run(["quantize", "--model", Self.quantModel, "--type", "q8_0", "--output", fifo])
        expectCleanFailure(result, mentioning: "exists and is not a regular file (a FIFO)")
        var status = stat()
        #expect(lstat(fifo, &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFIFO, "the FIFO was replaced")
        #expect(!FileManager.default.fileExists(atPath: fifo + ".partial"))
    }

    @Test func quantizeSaysGGUFRequantizationIsUnsupported() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let first = try run(["quantize", "--model", Self.quantModel, "--type", "f16", "--output", scratch + "/a.gguf"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try run(["quantize", "--model", scratch + "/a.gguf", "--type", "q8_0", "--output", scratch + "/b.gguf"])
        expectCleanFailure(second, mentioning: "converting GGUF to GGUF (requantization) is not supported")
        #expect(!second.stderr.contains("config.json"))
        #expect(!FileManager.default.fileExists(atPath: scratch + "/b.gguf"))
    }

    /// The tiny embedding model's rows (40 values) are not whole Q4_K blocks (256) nor Q8_0 blocks
    /// (32): the fallbacks are said in words, naming every tensor the summary lists.
    @Test func quantizeNamesTheTensorsThatFellBack() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try run(["quantize", "--model", Self.embeddingModel, "--type", "q4_k_m", "--output", scratch + "/q.gguf"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let fallbacks = try #require(summary["fallbacks"] as? [String])
        #expect(!fallbacks.isEmpty)
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("qwen3-embed: warning: ") }
        #expect(!warnings.isEmpty, "\(result.stderr)")
        #expect(warnings.allSatisfy { $0.contains("stored as") && $0.contains("instead of the requested") && $0.contains("blocks") })
        for name in fallbacks { #expect(warnings.contains { $0.contains(name) }, "\(name) not named") }
    }

    // MARK: Suspicious configuration, and tokenize agreeing with embed

    /// A linked copy of the embedding model whose config.json says `max_position_embeddings: context`.
    func modelWithContext(_ context: Int) throws -> (scratch: String, model: String) {
        let (scratch, model) = try linkedCopy(of: Self.embeddingModel)
        let configPath = model + "/config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.embeddingModel + "/config.json"))) as? [String: Any])
        config["max_position_embeddings"] = context
        try FileManager.default.removeItem(atPath: configPath)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        return (scratch, model)
    }

    @Test func aContextOfOneTokenIsRefusedByEmbedAndTokenize() throws {
        let (scratch, model) = try modelWithContext(1)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let message = "the model's context is 1 token (max_position_embeddings), fewer than the 2 an embedding needs"
        expectCleanFailure(try run(["embed", "--model", model, "a", "b"]), mentioning: message)
        expectCleanFailure(try run(["similarity", "--model", model, "--query", "q", "a"]), mentioning: message)
        expectCleanFailure(try run(["tokenize", "--model", model, "--max-length", "8", "a"]), mentioning: message)
    }

    @Test(arguments: [1, 0])
    func tokenizeAndEmbedRefuseTheSameTooSmallMaxLength(maxLength: Int) throws {
        let embed = try run(["embed", "--model", Self.embeddingModel, "--max-length", String(maxLength), "hello world"])
        let tokenize = try run(["tokenize", "--model", Self.embeddingModel, "--max-length", String(maxLength), "hello world"])
        #expect(embed.status != 0 && tokenize.status != 0)
        #expect(embed.errorLines == tokenize.errorLines, "embed: \(embed.stderr) tokenize: \(tokenize.stderr)")
        #expect(embed.errorLines.count == 1)
    }

    /// `tokenize --max-length N` prints exactly the ids `embed --max-length N` feeds the model, also
    /// when the model's context is shorter than N.
    @Test(arguments: [(2, 32768), (3, 32768), (5, 32768), (64, 32768), (8, 4), (3, 2)])
    func tokenizeProducesTheIdsEmbedFeedsTheModel(maxLength: Int, context: Int) throws {
        let (scratch, model) = try modelWithContext(context)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let texts = ["hello world, this is a longer sentence than a few tokens", "x", ""]
        let tokenized = try run(["tokenize", "--model", model, "--max-length", String(maxLength)] + texts)
        #expect(tokenized.status == 0, "\(tokenized.stderr)")
        let ids = tokenized.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["ids"] as? [Int]
        }
        let embedder = try Embedder(modelAt: URL(fileURLWithPath: model), maxLength: maxLength)
        #expect(ids == embedder.tokenize(texts))
        #expect(ids.allSatisfy { $0.count <= min(maxLength, context) })
        let embedded = try run(["embed", "--model", model, "--max-length", String(maxLength)] + texts)
        #expect(embedded.status == 0, "\(embedded.stderr)")
    }

    // MARK: JSON Lines input

    @Test func hostileJSONLinesNeverCrash() throws {
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = "\(scratch)/\(name)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        // Invalid UTF-8 inside a string: replaced by U+FFFD, and the line is embedded.
        let invalidUTF8 = try file("utf8.jsonl", Array("{\"text\": \"caf".utf8) + [0xC3, 0x28, 0xFF] + Array("\"}\n".utf8))
        let replaced = try run(["tokenize", "--model", Self.embeddingModel, "--input", invalidUTF8])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout.contains("\"ids\""))

        let cases: [(String, [UInt8], String)] = [
            ("nul.jsonl", Array("{\"text\": \"a".utf8) + [0] + Array("b\"}\n".utf8), ":1: not a JSON object"),
            ("nul-outside.jsonl", [0] + Array("{\"text\": \"a\"}\n".utf8), ":1: not a JSON object"),
            ("deep.jsonl", Array(repeating: UInt8(ascii: "["), count: 1_000_000) + Array("\n".utf8), ":1: JSON nested deeper than 64 levels"),
            ("deep-object.jsonl", Array(String(repeating: "{\"a\":", count: 100_000).utf8) + Array("1\n".utf8), ":1: JSON nested deeper than 64 levels"),
            ("huge.jsonl", Array("{\"other\": \"".utf8) + Array(repeating: UInt8(ascii: "a"), count: 16 << 20) + Array("\"}\n".utf8),
             ":1: missing string field \"text\""),
            ("second-line.jsonl", Array("{\"text\": \"ok\"}\n[1, 2\n".utf8), ":2: not a JSON object"),
        ]
        for (name, bytes, message) in cases {
            let path = try file(name, bytes)
            let result = try run(["embed", "--model", Self.embeddingModel, "--input", path])
            expectCleanFailure(result, mentioning: path + message)
            #expect(result.stdout.isEmpty)
        }
        // Brackets inside strings do not count as nesting.
        let bracketText = try file("brackets.jsonl", Array("{\"text\": \"\(String(repeating: "[", count: 1000))\"}\n".utf8))
        #expect(try run(["tokenize", "--model", Self.embeddingModel, "--input", bracketText]).status == 0)
        // A directory is not an input file.
        expectCleanFailure(try run(["embed", "--model", Self.embeddingModel, "--input", scratch]), mentioning: "cannot read input file")
    }

    // MARK: Progress when stderr is not a terminal

    @Test func progressIsOnePlainLinePerMilestoneWhenStderrIsNotATerminal() throws {
        let texts = (0..<70).map { "text \($0)" }  // more than one 64-text chunk
        let result = try run(["embed", "--model", Self.embeddingModel] + texts)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines == ["qwen3-embed: loading \(Self.embeddingModel)", "qwen3-embed: embedding done 70/70"], "\(result.stderr)")
        #expect(!result.stderr.contains("\r"))
    }
}

/// Unblocks a process stuck opening a FIFO for reading (the H3 regression) by opening the write end,
/// after a delay long enough that a correct program has long finished: only a failing run waits.
final class FIFOWatchdog: @unchecked Sendable {
    private let path: String
    private let stopped = DispatchSemaphore(value: 0)

    init(path: String) {
        self.path = path
        let stopped = stopped
        Thread.detachNewThread {
            while stopped.wait(timeout: .now() + 120) == .timedOut {
                // O_NONBLOCK: succeeds only when a reader is blocked in open, so the watchdog never blocks.
                let descriptor = open(path, O_WRONLY | O_NONBLOCK)
                if descriptor >= 0 { close(descriptor) }
            }
        }
    }

    func stop() { stopped.signal() }
}
