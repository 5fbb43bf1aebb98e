/// What a pipeline stage needs from the machinery between stages (Docs/DISTRIBUTED.md): ordered byte messages to
/// and from its neighbours. An MPI job implements it with one rank per stage (the `TinTMPI` target of the opt-in
/// build); ``LocalPipeline`` with threads of one process. Everything above bytes — what crosses a cut, in which
/// order, and the checks that both ends agree — is the executor's (``PipelineMessage``), so every transport runs
/// the same schedule.
public protocol PipelineTransport: Sendable {
    /// This endpoint's stage.
    var stage: Int { get }
    /// The number of stages.
    var stageCount: Int { get }
    /// Sends `bytes` to `stage`; messages between two stages arrive in the order they were sent.
    ///
    /// - Throws: `PipelineError.transport` or `.peerFailed` when the message cannot be delivered.
    func send(_ bytes: [UInt8], to stage: Int) throws
    /// The next message from `stage`, waiting for it.
    ///
    /// - Throws: `PipelineError.peerFailed` when `stage` (or any stage) failed or stopped answering within the
    ///   transport's bound: a transport never waits forever.
    func receive(from stage: Int) throws -> [UInt8]
    /// Tells the other stages that this one failed with `reason`, so they stop waiting for it. Best effort: it
    /// may end the process (an MPI job aborts every rank).
    func fail(_ reason: String)
}
