import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `serve` under clients that stall: shutdown with a grace period, a second signal, and a descriptor
/// limit that idle connections cannot exhaust. Through the built binary, since signals, exit statuses
/// and `ulimit` belong to the process.
@Suite("serve: shutdown and connection limits", .serialized)
struct ServeLimitsCLITests {
    /// `GET /health` then, in the same write, a POST whose body stalls after 10 of its 100 bytes:
    /// once /health is answered the server has read the stalled request's head.
    static let healthThenStalledPost =
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        + "POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":"

    func startServer(_ extra: [String], shellPrefix: String? = nil) async throws -> ServeProcess {
        try await ServeProcess(
            binary: CLITests.binary,
            arguments: ["serve", "--model", CLITests.embeddingModel, "--port", "0"] + extra,
            shellPrefix: shellPrefix)
    }

    @Test("SIGTERM with a request stalled mid-body: after --shutdown-timeout the connection is closed and the process exits 0")
    func shutdownGracePeriodEnds() async throws {
        let server = try await startServer(["--shutdown-timeout", "1s", "--body-timeout", "10m", "--request-timeout", "0"])
        defer { server.stop() }
        let socket = try TestSocket(port: server.port)
        try socket.send(Self.healthThenStalledPost)
        #expect(try socket.readStatus() == 200)
        server.signal(SIGTERM)
        // Bounded only against the hang this test is about (the grace period is one second).
        #expect(try await server.waitForExit() == 0, "\(server.text)")
        try socket.waitForClose()
    }

    @Test("A second SIGTERM during the grace period exits at once")
    func secondSignalExitsAtOnce() async throws {
        let server = try await startServer(["--shutdown-timeout", "10m", "--body-timeout", "10m", "--request-timeout", "0"])
        defer { server.stop() }
        let socket = try TestSocket(port: server.port)
        try socket.send(Self.healthThenStalledPost)
        #expect(try socket.readStatus() == 200)
        server.signal(SIGTERM)
        try await server.waitForOutput("graceful shutdown")
        server.signal(SIGINT)
        // Ten minutes of grace remain; the bound is a minute.
        #expect(try await server.waitForExit() == 128 + SIGINT, "\(server.text)")
    }

    @Test("With a descriptor limit of 200, 400 idle connections cannot keep /health from answering")
    func idleConnectionsCannotExhaustDescriptors() async throws {
        raiseOwnDescriptorLimit(to: 1024)
        let server = try await startServer(
            ["--max-connections", "100", "--header-timeout", "1s"], shellPrefix: "ulimit -n 200 &&")
        defer { server.stop() }
        let idle = try (0..<400).map { _ in try TestSocket(port: server.port, wait: false) }
        let status = try await Task.detached {
            // A 408 only means the loaded machine let a second pass before the server read this
            // request (the header timeout is one second); a real client retries.
            var status = 408
            for _ in 0..<20 where status == 408 {
                let health = try TestSocket(port: server.port)
                try health.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                status = try health.readStatus()
            }
            return status
        }.value
        #expect(status == 200, "\(server.text)")
        #expect(idle.count == 400)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0, "\(server.text)")
    }

    @Test("Bad limit options are one-line errors")
    func badLimitOptions() throws {
        for arguments in [["--header-timeout", "0"], ["--idle-timeout", "-1s"], ["--request-timeout", "abc"],
                          ["--shutdown-timeout", "1e9"], ["--body-timeout", "9999999999"], ["--max-connections", "0"]] {
            let output = try CLITests().run(["serve", "--model", CLITests.embeddingModel, "--port", "0"] + arguments)
            #expect(output.status != 0, "\(arguments)")
            #expect(output.stderr.contains(arguments[0]), "\(arguments): \(output.stderr)")
        }
    }

    /// This test process opens 400 sockets; some systems' default soft limit is 256.
    private func raiseOwnDescriptorLimit(to wanted: UInt64) {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0, UInt64(limit.rlim_cur) < wanted else { return }
        limit.rlim_cur = .init(min(wanted, UInt64(limit.rlim_max)))
        setrlimit(resource, &limit)
    }
}
