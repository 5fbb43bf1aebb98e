import Autodiff
import Tensor

extension Layers {
    /// One decoder layer's causal self-attention over this call's queries, keys and values, through the KV
    /// cache when there is one: the keys and values are appended to layer `layer`'s cache and attention reads
    /// every cached token (inference only); without a cache it reads this call's tokens. Padded keys
    /// (`inputs.keyMask`) are dropped. See ``attention(q:k:v:heads:kvHeads:scale:keyMask:keyCount:detachProbabilities:)``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func selfAttention<S>(q: Variable<S>, k: Variable<S>, v: Variable<S>, heads: Int, kvHeads: Int? = nil,
                                        scale: S, layer: Int, cache: KVCache<S>?, inputs: ForwardInputs,
                                        detachProbabilities: Bool) throws -> Variable<S> {
        guard let cache else {
            return try attention(q: q, k: k, v: v, heads: heads, kvHeads: kvHeads, scale: scale, keyMask: inputs.keyMask,
                                 detachProbabilities: detachProbabilities)
        }
        cache.store(layer: layer, keys: k.value, values: v.value, count: inputs.length)
        return try attention(q: q, k: Variable(cache.keys[layer]), v: Variable(cache.values[layer]), heads: heads,
                             kvHeads: kvHeads, scale: scale, keyMask: inputs.keyMask, keyCount: inputs.past + inputs.length,
                             detachProbabilities: detachProbabilities)
    }
}
