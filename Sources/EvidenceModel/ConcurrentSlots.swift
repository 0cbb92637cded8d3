import Foundation

/// Results of a concurrent loop (`DispatchQueue.concurrentPerform`), one slot per iteration, read in
/// iteration order once the loop is done.
public final class ConcurrentSlots<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()

    public init(count: Int) { slots = Array(repeating: nil, count: count) }

    public func set(_ index: Int, _ value: T) {
        lock.lock()
        slots[index] = value
        lock.unlock()
    }

    public func get(_ index: Int) -> T? {
        lock.lock()
        defer { lock.unlock() }
        return slots[index]
    }

    public var values: [T] {
        lock.lock()
        defer { lock.unlock() }
        return slots.compactMap { $0 }
    }
}
