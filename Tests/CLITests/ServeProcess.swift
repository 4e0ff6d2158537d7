import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `qwen3-embed serve` running as a child process, for what only the real binary shows: signals, exit
/// statuses, descriptor limits. Its output is collected as it comes, so tests can wait for a line.
///
/// `@unchecked Sendable`: the `Process` is configured and started in `init` only; afterwards it is
/// only queried and signalled, which Foundation synchronises.
final class ServeProcess: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let process: Process
    private final class Output: Sendable {
        let text = Mutex("")
    }

    private let output = Output()
    /// The port the server printed.
    let port: Int

    /// Starts the binary with `arguments` (through `sh -c` with `shellPrefix` prepended, e.g.
    /// `ulimit -n 200 &&`, when given) and waits for its `listening on` line.
    init(binary: URL, arguments: [String], shellPrefix: String? = nil) async throws {
        let process = Process()
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(shellPrefix) exec \"$0\" \"$@\"", binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let output = output
        for pipe in [out, err] {
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil; return }
                output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        try process.run()
        var port: Int?
        let deadline = ContinuousClock.now + .seconds(120)
        while port == nil {
            let text = output.text.withLock { $0 }
            if let range = text.range(of: #"listening on http://[^:]+:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "")
            } else if !process.isRunning || ContinuousClock.now > deadline {
                process.terminate()
                throw Failure(description: "the server did not start: \(text)")
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        self.port = port!
    }

    /// Everything the server wrote to stdout and stderr so far.
    var text: String { output.text.withLock { $0 } }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits until the server's output contains `fragment`; the bound only catches a hang.
    func waitForOutput(_ fragment: String, patience: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + patience
        while !text.contains(fragment) {
            if ContinuousClock.now > deadline { throw Failure(description: "no \"\(fragment)\" in: \(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the process to exit and returns its status (128 + n if killed by signal n). A
    /// process still running after `patience` is killed and reported as a failure: that is the hang.
    func waitForExit(patience: Duration = .seconds(60)) async throws -> Int32 {
        let deadline = ContinuousClock.now + patience
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
                throw Failure(description: "the server did not exit within \(patience); output: \(text)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Kills the server if it is still running (cleanup after a failed test).
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A blocking TCP client for the CLI tests: connect, write, read a status, wait for the close. Every
/// wait is bounded by `patience` (poll timeouts), so a server that never answers fails the test
/// instead of hanging it. The calls block, so tests make them from `Task.detached` work or plain
/// synchronous code, never while the server under test needs this process's threads (it does not:
/// it is another process).
final class TestSocket {
    private var descriptor: Int32
    private var buffered = Data()
    private let patience: Int32

    /// Connects to 127.0.0.1:`port`; without `wait` only starts connecting (for floods).
    init(port: Int, wait: Bool = true, patienceSeconds: Int32 = 60) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        patience = patienceSeconds * 1000
        guard descriptor >= 0 else { throw ServeProcess.Failure(description: "socket() failed: errno \(errno)") }
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        if !wait { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 || (!wait && errno == EINPROGRESS) else {
            let code = errno
            _ = close(descriptor)
            throw ServeProcess.Failure(description: "connect() failed: errno \(code)")
        }
    }

    deinit { _ = close(descriptor) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            #if canImport(Glibc)
            let count = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            #else
            let count = bytes.withUnsafeBytes { Darwin.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, 0) }
            #endif
            guard count > 0 else { throw ServeProcess.Failure(description: "send() failed: errno \(errno)") }
            sent += count
        }
    }

    /// Reads one response's status line and headers and its Content-Length body; returns the status.
    func readStatus() throws -> Int {
        let separator = Data("\r\n\r\n".utf8)
        while buffered.range(of: separator) == nil {
            guard try fill() else { throw ServeProcess.Failure(description: "closed before a response") }
        }
        let end = buffered.range(of: separator)!
        let head = String(decoding: buffered[..<end.lowerBound], as: UTF8.self)
        buffered.removeSubrange(..<end.upperBound)
        let length = head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        while buffered.count < length {
            guard try fill() else { throw ServeProcess.Failure(description: "closed inside a response body") }
        }
        buffered.removeFirst(length)
        return Int(head.split(separator: " ")[1]) ?? -1
    }

    /// Waits for the server to close the connection.
    func waitForClose() throws {
        while try fill() {}
    }

    private func fill() throws -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, patience)
        guard ready > 0 else { throw ServeProcess.Failure(description: "nothing arrived within the patience (poll \(ready))") }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffered.append(contentsOf: chunk[..<count])
            return true
        }
        if count == 0 || errno == ECONNRESET { return false }
        throw ServeProcess.Failure(description: "recv() failed: errno \(errno)")
    }
}
