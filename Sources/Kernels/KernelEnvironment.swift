import Foundation

/// Validation of the environment variables the kernels read (`QWEN3_KERNEL`, `QWEN3_THREADS`).
///
/// The kernels read them on the hot path without checking (an unknown value means the default), so a
/// program calls `problem()` once at startup to turn a typo into an error instead of a silent default.
public enum KernelEnvironment {
    /// The largest `QWEN3_THREADS` accepted: far above any core count, low enough that a typo such as
    /// an extra zero is caught rather than spawning thousands of threads.
    public static let maximumThreads = 4096

    /// The values `QWEN3_KERNEL` may take: `auto` (the default: detect the CPU) or `portable`.
    public static let kernelChoices = ["auto", "portable"]

    /// A one-line description of the first malformed variable in `environment`, or nil when both are
    /// unset, empty (treated as unset, as `VAR= command` means) or valid.
    public static func problem(in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let value = environment["QWEN3_THREADS"], !value.isEmpty {
            guard let threads = Int(value), threads > 0 else {
                return "QWEN3_THREADS must be a positive integer, got '\(value)'"
            }
            guard threads <= maximumThreads else {
                return "QWEN3_THREADS must be at most \(maximumThreads), got '\(value)'"
            }
        }
        if let value = environment["QWEN3_KERNEL"], !value.isEmpty, !kernelChoices.contains(value) {
            return "QWEN3_KERNEL must be \(kernelChoices.joined(separator: " or ")), got '\(value)'"
        }
        return nil
    }
}
