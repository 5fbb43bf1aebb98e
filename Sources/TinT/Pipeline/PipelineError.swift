/// Errors of a TinT run pipelined over stages (``TinTPartition``, ``PipelineTransport``): each names the stage and
/// what went wrong, so a launcher can print it as the job's reason for failing.
public enum PipelineError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The requested partition cannot be built for this graph (too many stages, a layer count that does not add
    /// up, a parameter shared across a cut).
    case invalidPartition(reason: String)
    /// A stage received a message other than the one the schedule expects next (a build or configuration mismatch
    /// between stages, or a transport delivering out of order).
    case protocolMismatch(stage: Int, expected: String, got: String)
    /// The stages were started with different builds, configurations, graphs or partitions (start-up handshake).
    case configurationMismatch(stage: Int, peer: Int, what: String)
    /// Another stage failed or stopped answering; `reason` is what is known about it.
    case peerFailed(stage: Int, peer: Int, reason: String)
    /// The transport itself failed (an MPI call returned an error, a payload was malformed).
    case transport(stage: Int, reason: String)

    /// A message naming the stage, the peer and the cause.
    public var description: String {
        switch self {
        case let .invalidPartition(reason):
            return "TinT pipeline: invalid partition: \(reason)"
        case let .protocolMismatch(stage, expected, got):
            return "TinT pipeline stage \(stage): expected \(expected), received \(got)"
        case let .configurationMismatch(stage, peer, what):
            return "TinT pipeline stage \(stage): stage \(peer) runs a different \(what); every rank must run the same build "
                + "with the same model, configuration and stage count"
        case let .peerFailed(stage, peer, reason):
            return "TinT pipeline stage \(stage): stage \(peer) failed: \(reason)"
        case let .transport(stage, reason):
            return "TinT pipeline stage \(stage): transport error: \(reason)"
        }
    }
}
