import Foundation
import Tensor

/// The cosines and sines of rotary position embeddings (RoPE) for the rows of one batch, shared by every
/// layer's queries and keys (see ``Layers/rotary(_:_:)``).
///
/// The angles follow `transformers`' default rope (`LlamaRotaryEmbedding`): `inv_freq[i] = 1/θ^(2i/headDim)`
/// and angle = position · inv_freq[i], both rounded to the scalar type as PyTorch rounds them in float32 (a
/// checkpoint was trained with those angles; at position 8000 an exact angle would differ by ~5e-4 rad).
/// The cosine and sine of that angle are evaluated in Double and rounded once.
public struct RotaryEmbedding<S: TensorScalar>: Sendable {
    /// Width of one head (even); pairs are (i, i + headDim/2).
    public let headDim: Int
    /// Rows (B·T tokens) the table covers.
    public let rows: Int
    /// `[rows, headDim/2]` row-major.
    let cos: [S], sin: [S]

    /// The table for `positions` (one per row, row-major `[B, T]`).
    ///
    /// - Parameters:
    ///   - theta: the base θ (`rope_theta`).
    ///   - frequencyDivisor: divides every inverse frequency (1 for the default rope; the `linear` rope's
    ///     factor, i.e. position interpolation, as `inv_freq /= factor`).
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` for an odd or non-positive `headDim`, a θ that is not
    ///   finite and > 0, or a negative position.
    public init(positions: [Int], headDim: Int, theta: Double, frequencyDivisor: Double = 1) throws {
        guard headDim > 0, headDim % 2 == 0 else {
            throw ModelError.invalidArgument(op: "RotaryEmbedding", reason: "head_dim must be even and positive, got \(headDim)")
        }
        guard theta.isFinite, theta > 0, frequencyDivisor.isFinite, frequencyDivisor > 0 else {
            throw ModelError.invalidArgument(op: "RotaryEmbedding", reason: "rope_theta and the frequency divisor must be finite and positive, got \(theta) and \(frequencyDivisor)")
        }
        if let p = positions.first(where: { $0 < 0 }) {
            throw ModelError.invalidArgument(op: "RotaryEmbedding", reason: "positions must not be negative, got \(p)")
        }
        let half = headDim / 2
        // inv_freq as transformers computes it: 1 / θ^(arange(0, d, 2) / d), each step rounded to S.
        let inverseFrequencies: [S] = (0..<half).map { i in
            let exponent = S(2 * i) / S(headDim)
            let power = S(Foundation.pow(theta, Double(exponent)))
            return S(1) / power / S(frequencyDivisor)
        }
        var c = [S](repeating: 0, count: positions.count * half), s = c
        for (r, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Double(S(p) * inverseFrequencies[i])  // the product in S, as PyTorch's float32 matmul
                c[r * half + i] = S(Foundation.cos(angle))
                s[r * half + i] = S(Foundation.sin(angle))
            }
        }
        self.headDim = headDim
        self.rows = positions.count
        self.cos = c
        self.sin = s
    }
}
