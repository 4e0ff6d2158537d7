import ArgumentParser
import Dispatch
import Foundation
import Server
import Synchronization

/// The `serve` options for timeouts, the connection limit and shutdown (see `ServerLimits`).
struct ServeLimitsOptions: ParsableArguments {
    @Option(name: .customLong("header-timeout"),
            help: "Longest wait for a request's headers, e.g. 30s, 500ms, 2m (a plain number is seconds); then 408.")
    var headerTimeout = "30s"
    @Option(name: .customLong("body-timeout"), help: "Longest pause between reads of a request body; then 408.")
    var bodyTimeout = "60s"
    @Option(name: .customLong("idle-timeout"), help: "How long an idle keep-alive connection is kept open.")
    var idleTimeout = "60s"
    @Option(name: .customLong("request-timeout"),
            help: "Longest time from a request's arrival to its answer, queueing included; then 503 (408 if its body is incomplete) and its queued work is dropped. 0 disables it.")
    var requestTimeout = "300s"
    @Option(name: .customLong("max-connections"),
            help: "Most open connections; beyond it new connections wait until one closes. (default: 4096, fewer if the descriptor limit is lower)")
    var maxConnections: Int?
    @Option(name: .customLong("shutdown-timeout"),
            help: "On SIGTERM/SIGINT, how long requests in progress may take before their connections are closed. A second signal exits at once.")
    var shutdownTimeout = "30s"

    /// Longest accepted duration: a week, far beyond any sensible timeout and far from overflow.
    static let longestDuration = 7 * 24 * 3600.0

    func validate() throws {
        for (name, text) in [("header-timeout", headerTimeout), ("body-timeout", bodyTimeout), ("idle-timeout", idleTimeout),
                             ("shutdown-timeout", shutdownTimeout)] {
            _ = try Self.parseDuration(text, option: name, allowZero: false)
        }
        _ = try Self.parseDuration(requestTimeout, option: "request-timeout", allowZero: true)
        if let maxConnections, !(1...1_000_000).contains(maxConnections) {
            throw ValidationError("--max-connections must be between 1 and 1000000")
        }
    }

    /// The limits these options describe.
    func limits() throws -> ServerLimits {
        var limits = ServerLimits()
        limits.headerTimeout = try Self.parseDuration(headerTimeout, option: "header-timeout", allowZero: false)
        limits.bodyTimeout = try Self.parseDuration(bodyTimeout, option: "body-timeout", allowZero: false)
        limits.idleTimeout = try Self.parseDuration(idleTimeout, option: "idle-timeout", allowZero: false)
        let request = try Self.parseDuration(requestTimeout, option: "request-timeout", allowZero: true)
        limits.requestTimeout = request == .zero ? nil : request
        if let maxConnections { limits.maxConnections = maxConnections }
        limits.shutdownTimeout = try Self.parseDuration(shutdownTimeout, option: "shutdown-timeout", allowZero: false)
        return limits
    }

    /// Sets `configuration.limits`, and makes a second SIGTERM or SIGINT end the process at once (the
    /// first starts graceful shutdown, which may take up to `--shutdown-timeout`).
    func apply(to configuration: inout ServerConfiguration) throws {
        configuration.limits = try limits()
        RepeatedSignalExit.arm()
    }

    /// Seconds as `30`, `1.5`, `30s`, `500ms` or `2m`.
    static func parseDuration(_ text: String, option: String, allowZero: Bool) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("", 1)]
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
            // Digits and at most one point only: no signs, exponents, "nan" or "inf".
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  number.filter({ $0 == "." }).count <= 1, let value = Double(number) else { continue }
            let seconds = value * unit.seconds
            guard seconds <= longestDuration else {
                throw ValidationError("--\(option) \(text) is longer than a week")
            }
            guard seconds > 0 || (allowZero && seconds == 0) else {
                throw ValidationError("--\(option) must be greater than 0\(allowZero ? " (or 0 to disable it)" : "")")
            }
            // Milliseconds are the finest unit accepted; rounding keeps 0.1 from becoming 0.0999...
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        throw ValidationError("--\(option) \"\(text)\" is not a duration like 30s, 500ms, 2m or 10")
    }
}

/// The second SIGTERM or SIGINT ends the process at once, without waiting for graceful shutdown:
/// the operator has asked twice. The exit status is 128 + the signal number, as a shell reports a
/// process killed by that signal. (The first signal is `ServiceGroup`'s: it starts graceful shutdown.)
enum RepeatedSignalExit {
    private static let queue = DispatchQueue(label: "qwen3-embed.repeated-signal")
    private static let sources = Mutex<[any DispatchSourceSignal]>([])
    private static let received = Atomic(0)

    /// Starts counting SIGTERM and SIGINT (once per process; later calls do nothing).
    static func arm() {
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for signalNumber in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    let count = received.add(1, ordering: .relaxed).newValue
                    guard count >= 2 else { return }
                    let name = signalNumber == SIGTERM ? "SIGTERM" : "SIGINT"
                    // write(2) directly: nothing here may block or trap, even with stderr closed.
                    let message = Array("qwen3-embed: \(name) again during graceful shutdown: exiting without waiting for requests in progress\n".utf8)
                    _ = message.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
                    _exit(128 + signalNumber)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
