import Foundation
import Tensor

/// How a rope type rescales the inverse frequencies of rotary embeddings (`transformers`' `rope_type`).
public enum RopeScaling: Sendable, Equatable {
    /// The original rope (`default`).
    case none
    /// Position interpolation (`linear`): every inverse frequency divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1's rope (`llama3`): frequencies whose wavelength exceeds
    /// `originalMaxPositions / lowFrequencyFactor` are divided by `factor`, those below
    /// `originalMaxPositions / highFrequencyFactor` are kept, and the band between is interpolated smoothly.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int)
}

/// The cosines and sines of rotary position embeddings (RoPE) for the rows of one batch, shared by every
/// layer's queries and keys (see ``Layers/rotary(_:_:)``).
///
/// The angles follow `transformers`' `LlamaRotaryEmbedding`: `inv_freq[i] = 1/θ^(2i/headDim)` (rescaled by the
/// rope type) and angle = position · inv_freq[i], every step rounded to the scalar type as PyTorch rounds it in
/// float32 (a checkpoint was trained with those angles; at position 8000 an exact angle would differ by
/// ~5e-4 rad). The cosine and sine of that angle are evaluated in Double and rounded once.
public struct RotaryEmbedding<S: TensorScalar>: Sendable {
    /// Width of one head (even); pairs are (i, i + headDim/2).
    public let headDim: Int
    /// Rows (B·T tokens) the table covers.
    public let rows: Int
    /// The `headDim/2` inverse frequencies, after the rope type's rescaling.
    public let inverseFrequencies: [S]
    /// `[rows, headDim/2]` row-major.
    let cos: [S], sin: [S]

    /// The table for `positions` (one per row, row-major `[B, T]`).
    ///
    /// - Parameters:
    ///   - theta: the base θ (`rope_theta`).
    ///   - scaling: the rope type's rescaling of the frequencies.
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` for an odd or non-positive `headDim`, a θ or a
    ///   scaling parameter that is not finite and > 0 (llama3 also needs high > low frequency factor), or a
    ///   negative position.
    public init(positions: [Int], headDim: Int, theta: Double, scaling: RopeScaling = .none) throws {
        func fail(_ reason: String) -> ModelError { .invalidArgument(op: "RotaryEmbedding", reason: reason) }
        guard headDim > 0, headDim % 2 == 0 else { throw fail("head_dim must be even and positive, got \(headDim)") }
        guard theta.isFinite, theta > 0 else { throw fail("rope_theta must be finite and positive, got \(theta)") }
        switch scaling {
        case .none: break
        case let .linear(factor):
            guard factor.isFinite, factor > 0 else { throw fail("the linear rope factor must be finite and positive, got \(factor)") }
        case let .llama3(factor, low, high, original):
            guard [factor, low, high].allSatisfy({ $0.isFinite && $0 > 0 }), high > low, original > 0 else {
                throw fail("llama3 rope needs a positive factor, 0 < low_freq_factor < high_freq_factor and a positive "
                           + "original_max_position_embeddings, got \(factor), \(low), \(high), \(original)")
            }
        }
        if let p = positions.first(where: { $0 < 0 }) { throw fail("positions must not be negative, got \(p)") }
        let half = headDim / 2
        // inv_freq as transformers computes it: 1 / θ^(arange(0, d, 2) / d), each step rounded to S.
        var frequencies: [S] = (0..<half).map { i in
            let exponent = S(2 * i) / S(headDim)
            return S(1) / S(Foundation.pow(theta, Double(exponent)))
        }
        switch scaling {
        case .none:
            break
        case let .linear(factor):
            frequencies = frequencies.map { $0 / S(factor) }
        case let .llama3(factor, low, high, original):
            // _compute_llama3_parameters, operation by operation in S (Python scalars become S operands).
            let lowWavelength = S(Double(original) / low), highWavelength = S(Double(original) / high)
            frequencies = frequencies.map { f in
                let wavelength = S(2 * Double.pi) / f
                let scaled = wavelength > lowWavelength ? f / S(factor) : f
                let smooth = (S(original) / wavelength - S(low)) / S(high - low)
                let smoothed = (1 - smooth) * scaled / S(factor) + smooth * scaled
                let medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                return medium ? smoothed : scaled
            }
        }
        var c = [S](repeating: 0, count: positions.count * half), s = c
        for (r, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Double(S(p) * frequencies[i])  // the product in S, as PyTorch's float32 matmul
                c[r * half + i] = S(Foundation.cos(angle))
                s[r * half + i] = S(Foundation.sin(angle))
            }
        }
        self.headDim = headDim
        self.rows = positions.count
        self.inverseFrequencies = frequencies
        self.cos = c
        self.sin = s
    }
}
