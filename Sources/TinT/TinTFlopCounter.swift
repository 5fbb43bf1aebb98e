import Synchronization

/// Counts the floating-point operations of the products one TinT run executes (2 per multiply-add), as the
/// compiled program runs them: every simulator layer's maps (cross-head mixes and block maps, at their sparsity:
/// a selector mix counts only the head pairs it reads) and attention products (the GEMMs each head actually runs,
/// including the full `T × T` score and value products of causal softmax heads), plus the executor's glue
/// products (the tied head's logits and the loss gradient `∂ℓ/∂h`). Elementwise work (gates, activations,
/// normalisation, softmax) is not counted. Pass one to ``TinTExecutor/run(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)``.
public final class TinTFlopCounter: Sendable {
    private let layers = Atomic<Int>(0), glue = Atomic<Int>(0)

    public init() {}

    /// The simulator layers' product FLOPs.
    public var layerFlops: Int { layers.load(ordering: .relaxed) }
    /// The executor's glue product FLOPs (logits and loss gradient).
    public var glueFlops: Int { glue.load(ordering: .relaxed) }
    /// Both.
    public var totalFlops: Int { layerFlops + glueFlops }

    func addLayer(_ n: Int) { layers.add(n, ordering: .relaxed) }
    func addGlue(_ n: Int) { glue.add(n, ordering: .relaxed) }
}
