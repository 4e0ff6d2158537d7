import Dispatch
import Foundation

/// Runs data-parallel work on the machine's cores.
///
/// Backed by Dispatch's `concurrentPerform`, whose worker threads are created once and reused, so no
/// operation pays for thread creation. `QWEN3_THREADS` overrides the width (for benchmarks and tests).
public struct ComputePool: Sendable {
    /// The number of tasks that run at the same time.
    public let width: Int

    /// A pool of the given width (at least 1).
    public init(width: Int) {
        self.width = max(1, width)
    }

    /// The process-wide pool: one thread per active core, or `QWEN3_THREADS`.
    public static let shared: ComputePool = {
        if let value = ProcessInfo.processInfo.environment["QWEN3_THREADS"], let width = Int(value), width > 0 {
            return ComputePool(width: width)
        }
        return ComputePool(width: ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body(task)` for every task in `0..<tasks`, spread over the pool, and returns when all are done.
    public func run(tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        if tasks == 1 || width == 1 {
            for task in 0..<tasks { body(task) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: tasks) { task in box.value(task) }
        }
    }
}

/// Carries a non-Sendable value (a closure over raw pointers whose ranges the caller keeps disjoint)
/// into concurrent work.
struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
