import Foundation
import Tensor

/// The stages of a pipeline as threads of one process, connected by in-memory mailboxes: the transport the
/// pipelined executor is tested with without MPI (Docs/DISTRIBUTED.md), running exactly the schedule an MPI job runs.
public enum LocalPipeline {
    /// Runs `stages` (stage `s` at index `s`, all of one partition) on one thread each and returns the last stage's
    /// outcome; the arguments are those of ``TinTExecutor/runStage(ids:trainMask:countsTarget:segmentStarts:readBack:flops:transport:)``.
    /// `timeout` bounds every wait for a message.
    ///
    /// - Throws: the error of the stage that failed first (not the `PipelineError.peerFailed` its neighbours then
    ///   raise); `PipelineError.invalidPartition` when `stages` are not the stages of one partition in order.
    public static func run<Scalar: TensorScalar>(_ stages: [TinTExecutor<Scalar>], ids: [Int], trainMask: [Bool],
                                                 countsTarget: @escaping @Sendable (Int) -> Bool, segmentStarts: [Int]? = nil,
                                                 readBack: Bool = false, timeout: Double = 600) throws -> DescentOutcome<Scalar> {
        guard let first = stages.first, stages.count == first.partition.count,
              stages.indices.allSatisfy({ stages[$0].stage == $0 && stages[$0].partition == first.partition }) else {
            throw PipelineError.invalidPartition(reason: "LocalPipeline needs the \(stages.first?.partition.count ?? 0) stages of one partition in order, "
                                                 + "got stages \(stages.map(\.stage))")
        }
        let mailboxes = LocalMailboxes(stageCount: stages.count, timeout: timeout)
        let results = LockedResults<DescentOutcome<Scalar>>(count: stages.count)
        let done = DispatchGroup()
        for (s, executor) in stages.enumerated() {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let transport = LocalPipelineTransport(stage: s, mailboxes: mailboxes)
                results.set(s, Result {
                    try executor.runStage(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                                          readBack: readBack, transport: transport)
                })
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        let outcomes = results.values
        // The root cause: the first failure that is not a stage reacting to another's.
        let errors = outcomes.compactMap { r -> Error? in if case .failure(let e) = r { return e } else { return nil } }
        if let cause = errors.first(where: { if case PipelineError.peerFailed = $0 { return false } else { return true } }) ?? errors.first {
            throw cause
        }
        guard case .success(let outcome?) = outcomes.last! else {
            throw PipelineError.transport(stage: stages.count - 1, reason: "the last stage returned no outcome")
        }
        return outcome
    }
}

/// One stage's end of the in-memory mailboxes.
public struct LocalPipelineTransport: PipelineTransport {
    /// This end's stage.
    public let stage: Int
    let mailboxes: LocalMailboxes
    /// The number of stages.
    public var stageCount: Int { mailboxes.stageCount }

    /// Queues `bytes` for `peer`; throws `peerFailed` once any stage has failed.
    public func send(_ bytes: [UInt8], to peer: Int) throws { try mailboxes.post(bytes, from: stage, to: peer) }
    /// The next message from `peer`, waiting at most the pipeline's timeout.
    public func receive(from peer: Int) throws -> [UInt8] { try mailboxes.take(from: peer, to: stage) }
    /// Records the failure and wakes every waiting stage.
    public func fail(_ reason: String) { mailboxes.fail(stage: stage, reason: reason) }
}

/// FIFO queues between every ordered pair of stages, and the first failure, under one condition variable.
final class LocalMailboxes: @unchecked Sendable {
    let stageCount: Int
    let timeout: Double
    private let condition = NSCondition()
    private var queues: [[[[UInt8]]]]  // [from][to]: messages in order
    private var failure: (stage: Int, reason: String)?

    init(stageCount: Int, timeout: Double) {
        self.stageCount = stageCount
        self.timeout = timeout
        queues = Array(repeating: Array(repeating: [], count: stageCount), count: stageCount)
    }

    func post(_ bytes: [UInt8], from: Int, to: Int) throws {
        guard (0..<stageCount).contains(to), to != from else {
            throw PipelineError.transport(stage: from, reason: "no stage \(to) to send to (\(stageCount) stages)")
        }
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw PipelineError.peerFailed(stage: from, peer: failure.stage, reason: failure.reason) }
        queues[from][to].append(bytes)
        condition.broadcast()
    }

    func take(from: Int, to: Int) throws -> [UInt8] {
        guard (0..<stageCount).contains(from), to != from else {
            throw PipelineError.transport(stage: to, reason: "no stage \(from) to receive from (\(stageCount) stages)")
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while queues[from][to].isEmpty {
            if let failure { throw PipelineError.peerFailed(stage: to, peer: failure.stage, reason: failure.reason) }
            guard condition.wait(until: deadline) else {
                throw PipelineError.peerFailed(stage: to, peer: from, reason: "no message within \(timeout) s")
            }
        }
        return queues[from][to].removeFirst()
    }

    func fail(stage: Int, reason: String) {
        condition.lock()
        if failure == nil { failure = (stage, reason) }
        condition.broadcast()
        condition.unlock()
    }
}

/// One result slot per stage, written by the stage's thread.
final class LockedResults<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Value?, Error>]

    init(count: Int) { slots = Array(repeating: .success(nil), count: count) }
    func set(_ i: Int, _ r: Result<Value?, Error>) { lock.withLock { slots[i] = r } }
    var values: [Result<Value?, Error>] { lock.withLock { slots } }
}
