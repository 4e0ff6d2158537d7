import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport

/// `qwen3-embed serve` through the built binary: option and environment checks, the bind error, JSON
/// logs with the access log line, and options that reach the running server.
@Suite("serve command", .serialized)
struct ServeCommandTests {
    static let packageRoot = TestPaths.repositoryRoot

    /// The binary `swift build` put next to the test bundle.
    static let binary: URL = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for directory in candidates {
            var url = directory
            for _ in 0..<4 {
                let candidate = url.appendingPathComponent("qwen3-embed")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                url.deleteLastPathComponent()
            }
        }
        return packageRoot.appendingPathComponent(".build/debug/qwen3-embed")
    }()

    /// A `serve` process: its output is collected as it comes; `port` is known once it listens.
    /// (`@unchecked`: `Process` is used only through its thread-safe run, signal and wait calls.)
    final class ServeProcess: @unchecked Sendable {
        let process: Process
        private let output = Mutex((stdout: Data(), stderr: Data()))
        private let listening = Mutex<CheckedContinuation<Int?, Never>?>(nil)
        private let exited = Mutex<CheckedContinuation<Int32, Never>?>(nil)

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            process = Process()
            process.executableURL = ServeCommandTests.binary
            process.arguments = ["serve"] + arguments
            var merged = ProcessInfo.processInfo.environment
            for name in ["MODEL_ID", "RERANKER_MODEL_ID", "HOSTNAME", "PORT", "API_KEY", "QWEN3_EMBED_API_KEY", "PAYLOAD_LIMIT",
                         "MAX_CLIENT_BATCH_SIZE", "MAX_BATCH_TOKENS", "MAX_CONCURRENT_REQUESTS"] {
                merged[name] = nil
            }
            process.environment = merged.merging(environment) { $1 }
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            read(out.fileHandleForReading, isStdout: true)
            read(err.fileHandleForReading, isStdout: false)
        }

        /// Reads a stream to its end on its own thread (blocking reads stay off the test's threads).
        private func read(_ handle: FileHandle, isStdout: Bool) {
            let thread = Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    let port: Int? = output.withLock { output in
                        if isStdout { output.stdout.append(chunk) } else { output.stderr.append(chunk) }
                        let text = String(decoding: output.stdout, as: UTF8.self)
                        guard let range = text.range(of: "listening on http://"), let end = text[range.upperBound...].firstIndex(of: "\n") else {
                            return nil
                        }
                        return Int(text[range.upperBound..<end].split(separator: ":").last ?? "")
                    }
                    if let port { listening.withLock { $0?.resume(returning: port); $0 = nil } }
                }
                if isStdout { listening.withLock { $0?.resume(returning: nil); $0 = nil } }
            }
            thread.start()
        }

        /// The port once the server prints its "listening on" line, or nil if it exits first.
        func port() async -> Int? {
            await withCheckedContinuation { continuation in
                let known: Int?? = output.withLock { output in
                    let text = String(decoding: output.stdout, as: UTF8.self)
                    guard let range = text.range(of: "listening on http://"), let end = text[range.upperBound...].firstIndex(of: "\n") else {
                        return process.isRunning ? nil : .some(nil)
                    }
                    return .some(Int(text[range.upperBound..<end].split(separator: ":").last ?? ""))
                }
                if let known { continuation.resume(returning: known) } else { listening.withLock { $0 = continuation } }
            }
        }

        /// Waits for the process to end and returns its status.
        func wait() async -> Int32 {
            let process = process
            return await withCheckedContinuation { continuation in
                Thread {
                    process.waitUntilExit()
                    continuation.resume(returning: process.terminationStatus)
                }.start()
            }
        }

        var stderr: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
        var stdout: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    }

    /// Runs `serve` with arguments that must be refused; returns its exit status and stderr.
    func refused(_ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String) {
        let serve = try ServeProcess(arguments, environment: environment)
        let status = await serve.wait()
        // The readers may still be draining the pipes: wait for stdout's end before reading stderr.
        _ = await serve.port()
        return (status, serve.stderr)
    }

    static let model = packageRoot.appendingPathComponent("Tests/Fixtures/tiny-qwen3-embedding").path

    @Test("Bad ports, empty API keys, overflowing payload limits and bad environment values are one-line errors")
    func refusals() async throws {
        let cases: [([String], [String: String], String)] = [
            (["--model", Self.model, "--port", "70000"], [:], "0...65535"),
            (["--model", Self.model, "--port=-1"], [:], "0...65535"),
            (["--model", Self.model, "--api-key", ""], [:], "API key is empty"),
            (["--model", Self.model], ["API_KEY": ""], "API key is empty"),
            (["--model", Self.model, "--payload-limit", "9000000000000GB"], [:], "maximum of 1GB"),
            (["--model", Self.model, "--payload-limit", "2GB"], [:], "maximum of 1GB"),
            (["--model", Self.model, "--payload-limit", "lots"], [:], "not a size"),
            (["--model", Self.model], ["PORT": "abc"], "PORT=abc"),
            (["--model", Self.model], ["PORT": "99999"], "0...65535"),
            (["--model", Self.model, "--precision", "fp8"], [:], "--precision"),
            (["--model", Self.model, "--threads", "0"], [:], "--threads"),
            ([], [:], "--model"),
        ]
        for (arguments, environment, expected) in cases {
            let (status, stderr) = try await refused(arguments, environment: environment)
            #expect(status != 0, "\(arguments) \(environment)")
            #expect(stderr.contains(expected), "\(arguments) \(environment): \(stderr)")
            #expect(!stderr.contains("Fatal error"), "\(arguments): \(stderr)")
            #expect(stderr.split(separator: "\n").count <= 3, "\(arguments): \(stderr)")
        }
    }

    @Test("A port in use is a one-line error naming host and port")
    func bindFailure() async throws {
        let first = try ServeProcess(["--model", Self.model, "--port", "0"])
        defer { first.process.terminate() }
        let port = try #require(await first.port())
        let (status, stderr) = try await refused(["--model", Self.model, "--hostname", "127.0.0.1", "--port", String(port)])
        #expect(status != 0)
        #expect(stderr.contains("qwen3-embed: error: cannot listen on 127.0.0.1:\(port): address already in use"), "\(stderr)")
        first.process.terminate()
        _ = await first.wait()
    }

    @Test("Environment configuration, --json-output access log (no request text), served name, token ids, precision, threads")
    func runningServer() async throws {
        let serve = try ServeProcess(
            ["--json-output", "--served-model-name", "my-model", "--accept-token-ids", "--precision", "bf16", "--threads", "1"],
            environment: ["MODEL_ID": Self.model, "PORT": "0", "HOSTNAME": "127.0.0.1", "API_KEY": "sekrit"])
        let port = try #require(await serve.port(), "\(serve.stderr)")
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil, key: String? = "sekrit") async throws -> (Int, [String: Any]) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = method
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await client.execute(request, timeout: .seconds(60))
            let data = try await response.body.collect(upTo: 1 << 24)
            let json = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
            return (Int(response.status.code), json)
        }
        do {
            let secret = "a very secret sentence 31337"
            let (status, reply) = try await call(.POST, "/v1/embeddings", #"{"input": ["\#(secret)"]}"#)
            #expect(status == 200)
            #expect(reply["model"] as? String == "my-model")
            #expect(try await call(.POST, "/v1/embeddings", #"{"input": [[1, 2, 3]]}"#).0 == 200)
            #expect(try await call(.POST, "/v1/embeddings", #"{"input": "x"}"#, key: nil).0 == 401)
            let (_, models) = try await call(.GET, "/v1/models")
            #expect((models["data"] as? [[String: Any]])?.first?["id"] as? String == "my-model")
            let (_, info) = try await call(.GET, "/info")
            #expect(info["precision"] as? String == "bf16")
            #expect(info["threads"] as? Int == 1)
            try await client.shutdown()

            serve.process.interrupt()
            #expect(await serve.wait() == 0)
            _ = await serve.port()
            let stderr = serve.stderr
            #expect(!stderr.contains(secret))
            let lines = stderr.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { $0 != nil }, "\(stderr)")
            let access = lines.compactMap { $0 }.filter { $0["message"] as? String == "request" }
            let embedding = access.first { $0["route"] as? String == "/v1/embeddings" && $0["status"] as? String == "200" }
            #expect(embedding?["method"] as? String == "POST")
            #expect(embedding?["inputs"] as? String == "1")
            #expect(Int(embedding?["tokens"] as? String ?? "") ?? 0 > 0)
            #expect(embedding?["queue_ms"] is String && embedding?["compute_ms"] is String)
            #expect(embedding?["level"] as? String == "info")
            #expect(access.contains { $0["status"] as? String == "401" })
        } catch {
            try? await client.shutdown()
            serve.process.terminate()
            throw error
        }
    }
}
